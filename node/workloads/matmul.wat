;; Integer matrix multiply. Input: u32 n, u32 seed (little-endian). A and B are n x n,
;; filled from a linear congruential generator (each entry `(state >> 16) % 1000`, A
;; first, row by row). Output: a u64 checksum of C = A x B, folding each entry of C in
;; row order as `sum = rotl(sum, 5) xor c` (little-endian).
(module
  (memory (export "memory") 1)
  (global $state (mut i32) (i32.const 0))
  (func $next (result i64)
    (global.set $state (i32.add (i32.mul (global.get $state) (i32.const 1664525))
                                (i32.const 1013904223)))
    (i64.extend_i32_u (i32.rem_u (i32.shr_u (global.get $state) (i32.const 16)) (i32.const 1000))))
  (func (export "alloc") (param $len i32) (result i32) (i32.const 16))
  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $n i32) (local $a i32) (local $b i32) (local $i i32) (local $j i32) (local $k i32)
    (local $cells i32) (local $c i64) (local $sum i64) (local $need i32)
    (if (i32.lt_u (local.get $len) (i32.const 8)) (then unreachable))
    (local.set $n (i32.load (local.get $ptr)))
    (global.set $state (i32.load (i32.add (local.get $ptr) (i32.const 4))))
    (if (i32.gt_u (local.get $n) (i32.const 4096)) (then unreachable))
    (local.set $cells (i32.mul (local.get $n) (local.get $n)))
    ;; A at 64, B after it; 8 bytes per entry.
    (local.set $a (i32.const 64))
    (local.set $b (i32.add (local.get $a) (i32.shl (local.get $cells) (i32.const 3))))
    (local.set $need (i32.sub
      (i32.shr_u (i32.add (i32.add (local.get $b) (i32.shl (local.get $cells) (i32.const 3)))
                          (i32.const 65535)) (i32.const 16))
      (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then unreachable))))
    (local.set $i (i32.const 0))
    (block $filled
      (loop $fill
        (br_if $filled (i32.ge_u (local.get $i) (i32.shl (local.get $cells) (i32.const 1))))
        (i64.store (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 3))) (call $next))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $fill)))
    (local.set $i (i32.const 0))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $c (i64.const 0))
            (local.set $k (i32.const 0))
            (block $dot_done
              (loop $dot
                (br_if $dot_done (i32.ge_u (local.get $k) (local.get $n)))
                (local.set $c (i64.add (local.get $c) (i64.mul
                  (i64.load (i32.add (local.get $a) (i32.shl
                    (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $k)) (i32.const 3))))
                  (i64.load (i32.add (local.get $b) (i32.shl
                    (i32.add (i32.mul (local.get $k) (local.get $n)) (local.get $j)) (i32.const 3)))))))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $dot)))
            (local.set $sum (i64.xor (i64.rotl (local.get $sum) (i64.const 5)) (local.get $c)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $cols)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
    (i64.store (i32.const 0) (local.get $sum))
    (i64.const 8)))

;; A sieve of Eratosthenes. Input: u32 n (little-endian). Output: the number of primes
;; below n, as a u32 (little-endian). The sieve takes one byte per number, so n is
;; bounded by the job's memory limit: memory grows as needed and traps past it.
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param $len i32) (result i32) (i32.const 16))
  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $n i32) (local $i i32) (local $j i32) (local $count i32) (local $need i32)
    (if (i32.lt_u (local.get $len) (i32.const 4)) (then unreachable))
    (local.set $n (i32.load (local.get $ptr)))
    ;; The sieve starts at byte 64; grow memory to hold n bytes.
    (local.set $need (i32.sub
      (i32.shr_u (i32.add (i32.add (local.get $n) (i32.const 64)) (i32.const 65535)) (i32.const 16))
      (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then unreachable))))
    ;; Fresh pages are zero: 0 means "maybe prime".
    (local.set $i (i32.const 2))
    (block $done
      (loop $outer
        (br_if $done (i32.gt_u (i32.mul (local.get $i) (local.get $i)) (local.get $n)))
        (if (i32.eqz (i32.load8_u (i32.add (i32.const 64) (local.get $i))))
          (then
            (local.set $j (i32.mul (local.get $i) (local.get $i)))
            (block $marked
              (loop $inner
                (br_if $marked (i32.ge_u (local.get $j) (local.get $n)))
                (i32.store8 (i32.add (i32.const 64) (local.get $j)) (i32.const 1))
                (local.set $j (i32.add (local.get $j) (local.get $i)))
                (br $inner)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (local.set $i (i32.const 2))
    (block $counted
      (loop $count_loop
        (br_if $counted (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eqz (i32.load8_u (i32.add (i32.const 64) (local.get $i))))
          (then (local.set $count (i32.add (local.get $count) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $count_loop)))
    (i32.store (i32.const 0) (local.get $count))
    (i64.const 4)))

;; A hash chain: `rounds` applications of the splitmix64 finalizer to a seed.
;; Input: u32 rounds, u64 seed (little-endian). Output: the final u64 (little-endian).
(module
  (memory (export "memory") 1)
  ;; The input goes at 1024; the output at 0.
  (func (export "alloc") (param $len i32) (result i32) (i32.const 1024))
  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $rounds i32) (local $x i64) (local $z i64)
    (if (i32.lt_u (local.get $len) (i32.const 12)) (then unreachable))
    (local.set $rounds (i32.load (local.get $ptr)))
    (local.set $x (i64.load (i32.add (local.get $ptr) (i32.const 4))))
    (block $done
      (loop $round
        (br_if $done (i32.eqz (local.get $rounds)))
        (local.set $x (i64.add (local.get $x) (i64.const 0x9e3779b97f4a7c15)))
        (local.set $z (local.get $x))
        (local.set $z (i64.mul (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 30)))
                               (i64.const 0xbf58476d1ce4e5b9)))
        (local.set $z (i64.mul (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 27)))
                               (i64.const 0x94d049bb133111eb)))
        (local.set $x (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 31))))
        (local.set $rounds (i32.sub (local.get $rounds) (i32.const 1)))
        (br $round)))
    (i64.store (i32.const 0) (local.get $x))
    ;; ptr 0, len 8
    (i64.const 8)))

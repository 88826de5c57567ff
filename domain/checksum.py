"""The order-independent checksum of a set of numbers that both stores keep up to date.

Postgres keeps it for each organization's listed entries (a trigger on ``dnc_entries``), Redis
for each generation of the mirror (the scripts that write membership), so that comparing the
two costs the same for ten numbers as for ten million.

For a set S of numbers (E.164 digits read as integers, below 10^15 < 2^50) it is

- ``count``: |S|;
- ``sum1``, ``sum2``: the sum of S modulo the primes P1 and P2, which together are the sum
  modulo P1·P2 > 2^52;
- ``sum3``: the sum of the squares of the residues n mod P3, modulo P3.

Every term stays exact in Lua 5.1, whose numbers are doubles (integers exact below 2^53):
a residue is below 2^26, a residue squared below 2^52, and a running sum is reduced after
every step, so it stays below 2^27. Postgres computes the same terms in ``bigint``.

What it detects, between what Redis holds (R) and what Postgres says it should hold (T):

- a missing or an extra number, or any drift where the counts of missing and extra numbers
  differ: always (``count``);
- one number in place of another (a lost add together with a lost remove, a corrupted
  member): always. The sums differ by the difference of the two numbers, which is not zero
  and smaller than P1·P2. The same holds for up to four numbers in place of four others whose
  sums differ, and the squares catch two-for-two swaps with equal sums unless P3 divides a
  difference of two of the numbers involved;
- anything else: all of ``sum1``, ``sum2``, ``sum3`` agree by chance with probability about
  2^-78.

A change made behind the scripts' back (a bucket edited by hand, a key evicted) does not
update the Redis side, so this checksum cannot see it: the slice-by-slice full verification
in :mod:`domain.usecases.mirror_repair` is there for that.
"""

from collections.abc import Iterable
from dataclasses import dataclass

P1 = 67_108_859  # the three largest primes below 2^26
P2 = 67_108_837
P3 = 67_108_819


@dataclass(frozen=True, slots=True)
class Checksum:
    count: int = 0
    sum1: int = 0
    sum2: int = 0
    sum3: int = 0

    @classmethod
    def of(cls, numbers: Iterable[int | str]) -> "Checksum":
        count = sum1 = sum2 = sum3 = 0
        for value in numbers:
            n = int(value)
            count += 1
            sum1 += n % P1
            sum2 += n % P2
            sum3 += (n % P3) ** 2 % P3
        return cls(count, sum1 % P1, sum2 % P2, sum3 % P3)

    def __add__(self, other: "Checksum") -> "Checksum":
        return Checksum(
            self.count + other.count,
            (self.sum1 + other.sum1) % P1,
            (self.sum2 + other.sum2) % P2,
            (self.sum3 + other.sum3) % P3,
        )

    def __sub__(self, other: "Checksum") -> "Checksum":
        return Checksum(
            self.count - other.count,
            (self.sum1 - other.sum1) % P1,
            (self.sum2 - other.sum2) % P2,
            (self.sum3 - other.sum3) % P3,
        )

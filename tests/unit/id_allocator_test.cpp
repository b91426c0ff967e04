#include <doctest/doctest.h>

#include "plan/id_allocator.h"

using socklb::IdAllocator;

TEST_CASE("IdAllocator hands out array indexes above those in use, never 0, and wraps") {
  IdAllocator empty({}, 100);
  CHECK(empty.allocate() == 1u);
  CHECK(empty.allocate() == 2u);

  IdAllocator used({3, 7}, 100);
  CHECK(used.allocate() == 8u);  // moves forward: 4..6 are not reused at once
  CHECK(used.allocate() == 9u);

  IdAllocator at_the_top({1, 2, 8}, 10);  // ids 1..9 exist
  CHECK(at_the_top.allocate() == 9u);
  CHECK(at_the_top.allocate() == 3u);  // wraps past 0 and the ids in use
  CHECK(at_the_top.available() == 4u);  // 4, 5, 6, 7
}

TEST_CASE("IdAllocator says when the array is full, counting quarantined ids as used") {
  IdAllocator full({1, 2, 3}, 4);
  CHECK(full.available() == 0u);
  CHECK_FALSE(full.allocate().has_value());

  IdAllocator one_left({1, 3, 99}, 4);  // 99 lies outside the array: ignored
  CHECK(one_left.allocate() == 2u);
  CHECK_FALSE(one_left.allocate().has_value());
}

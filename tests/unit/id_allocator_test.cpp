#include <doctest/doctest.h>

#include "plan/id_allocator.h"

using socklb::IdAllocator;

TEST_CASE("IdAllocator hands out fresh ids above those in use, never 0") {
  IdAllocator empty({});
  CHECK(empty.allocate() == 1);
  CHECK(empty.allocate() == 2);

  IdAllocator used({3, 7});
  CHECK(used.allocate() == 8);  // moves forward: 4..6 are not reused at once
  CHECK(used.allocate() == 9);

  IdAllocator at_the_top({1, 2, 0xfffffffeu});
  CHECK(at_the_top.allocate() == 0xffffffffu);
  CHECK(at_the_top.allocate() == 3);  // wraps past 0 and the ids in use
  CHECK(at_the_top.allocate() == 4);
}

// The ctest `skip_policy`: a skip that tests/allowed_skips.txt does not list must fail
// (the check passes when gtest reports this test FAILED, see tests/CMakeLists.txt).
#include <gtest/gtest.h>

TEST(SkipPolicy, UnlistedSkipFails) { GTEST_SKIP() << "a skip nobody allowed"; }

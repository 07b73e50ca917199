// The main of every gtest binary: gtest's own, plus the rule that a test may skip only
// when it is on tests/allowed_skips.txt. A GTEST_SKIP() anywhere else is reported as a
// failure of that test, so ctest fails instead of counting it as skipped.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

namespace {

// The first word of every line that is not blank or a comment.
bool ReadAllowList(const std::string& path, std::set<std::string>* names) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string name;
    if ((words >> name) && name[0] != '#') names->insert(name);
  }
  return true;
}

// Runs after the test body, before gtest's printer reports the result (end events go to
// listeners in reverse order), so a refused skip is printed and counted as a failure.
class SkipsMustBeAllowed : public testing::EmptyTestEventListener {
 public:
  explicit SkipsMustBeAllowed(std::set<std::string> allowed) : allowed_(std::move(allowed)) {}

  void OnTestEnd(const testing::TestInfo& test) override {
    const testing::TestResult& result = *test.result();
    if (!result.Skipped()) return;
    const std::string name = std::string(test.test_suite_name()) + "." + test.name();
    if (allowed_.count(name)) return;
    std::string reason;
    for (int i = 0; i < result.total_part_count(); ++i) {
      if (result.GetTestPartResult(i).skipped()) reason = result.GetTestPartResult(i).message();
    }
    ADD_FAILURE() << name << " skipped (" << reason
                  << ") but is not on tests/allowed_skips.txt: fix the cause, or allow the skip there with its reason";
  }

 private:
  std::set<std::string> allowed_;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  std::set<std::string> allowed;
  const std::string path = std::string(KILN_SOURCE_DIR) + "/tests/allowed_skips.txt";
  if (!ReadAllowList(path, &allowed)) {
    std::cerr << "test main: cannot read " << path << "\n";
    return 2;
  }
  testing::UnitTest::GetInstance()->listeners().Append(new SkipsMustBeAllowed(std::move(allowed)));
  return RUN_ALL_TESTS();
}

// `kiln dump --format html`: the page's structure and its errors. (The page's behaviour
// in a browser is tests/tools/html_dump_test.py, ctest html_dump.)
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "tests/test_util.h"

namespace kiln {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(DumpHtml, OneSelfContainedPageWithEveryNode) {
  const std::string out = ::testing::TempDir() + "/kiln_iris.html";
  testing::KilnResult r =
      testing::RunKilnInSourceTree("dump examples/iris_mlp.kiln.txt --format html --memory -o " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string page = ReadAll(out);
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("<svg"), std::string::npos);
  EXPECT_EQ(page.find("<script src"), std::string::npos);  // nothing loaded from elsewhere
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_NE(page.find("515 parameters"), std::string::npos);  // 4*64 + 64 + 64*3 + 3
  // Every DOT node has its details entry and an SVG group with the same id.
  for (const char* id : {"input0", "const0", "node0", "output0"}) {
    EXPECT_NE(page.find(std::string("\"") + id + "\":{"), std::string::npos) << id;
    EXPECT_NE(page.find(std::string("<g id=\"") + id + "\" class=\"node\""), std::string::npos) << id;
  }
  EXPECT_NE(page.find("\"op\":\"FusedMatMul\""), std::string::npos);  // MatMul + bias + Relu, after the passes
  EXPECT_NE(page.find("live steps"), std::string::npos);  // --memory: buffers per value
}

TEST(DumpHtml, NamesCannotBreakOutOfTheScript) {
  // A graph whose names hold markup: the details JSON never contains "</".
  const std::string model = ::testing::TempDir() + "/kiln_markup.kiln.txt";
  std::ofstream(model) << R"(graph {
  name: "m</script><b>"
  input { name: "x</script>" dtype: DT_FLOAT dims { size: 2 } }
  node { op_type: "Relu" name: "r</script>" input: "x</script>" output: "y" }
  output { name: "y" }
})";
  const std::string out = ::testing::TempDir() + "/kiln_markup.html";
  testing::KilnResult r = testing::RunKilnInSourceTree("dump " + model + " --format html -o " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string page = ReadAll(out);
  const size_t json = page.find("id=\"kiln-graph\">");
  ASSERT_NE(json, std::string::npos);
  const size_t end = page.find("</script>", json);
  EXPECT_EQ(page.substr(json, end - json).find("</"), std::string::npos);
  EXPECT_EQ(page.find("<b>"), std::string::npos);  // the title is escaped
}

TEST(DumpHtml, Errors) {
  testing::KilnResult after = testing::RunKilnInSourceTree("dump examples/iris_mlp.kiln.txt --format html --after all");
  testing::ExpectOneLineError(after.code, after.output, 2, "kiln: dump: ", "--format html shows one graph");
  std::string out;
  const int code = testing::RunCommand("KILN_DOT=/nonexistent/dot " + std::string(KILN_TOOL_PATH) + " dump " +
                                           testing::SourcePath("examples/iris_mlp.kiln.txt") + " --format html",
                                       &out);
  testing::ExpectOneLineError(code, out, 1, "kiln: ", "KILN_DOT=/nonexistent/dot");
}

}  // namespace
}  // namespace kiln

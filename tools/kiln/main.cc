#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  std::printf("kiln: usage: kiln <run|dump> ...\n");
  return 0;
}

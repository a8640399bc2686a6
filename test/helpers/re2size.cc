// Test helper: asks the real RE2 (libre2) what Envoy would see. Built and run by test/helpers/re2.ts.
//   re2size               one pattern per stdin line -> "size\t<RE2::ProgramSize()>" or "error\t<msg>"
//   re2size --full-match  stdin lines alternate pattern, text -> "match\t1|0" or "error\t<msg>"
// Patterns are compiled like Envoy's safe_regex: default options, errors not logged (RE2::Quiet).
#include <re2/re2.h>

#include <cstring>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  const bool full_match = argc > 1 && std::strcmp(argv[1], "--full-match") == 0;
  std::string pattern, text;
  while (std::getline(std::cin, pattern)) {
    if (full_match && !std::getline(std::cin, text)) return 2;
    RE2 re(pattern, RE2::Quiet);
    if (!re.ok()) {
      std::cout << "error\t" << re.error() << '\n';
    } else if (full_match) {
      std::cout << "match\t" << (RE2::FullMatch(text, re) ? 1 : 0) << '\n';
    } else {
      std::cout << "size\t" << re.ProgramSize() << '\n';
    }
  }
  return 0;
}

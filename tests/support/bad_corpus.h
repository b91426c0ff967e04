#pragma once
// The bad-input corpus (tests/corpus): the committed cases with their
// expected errors, and the huge ones generated here because they are too big
// to commit. Header-only: the unit and the kernel tests both use it.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef SOCKLB_TESTS_DIR
#error "SOCKLB_TESTS_DIR must name the tests/ directory"
#endif

namespace socklb::test {

struct BadInput {
  std::string name;
  std::string text;  // the content of web.yaml
  // Each expected error: fragments that must all appear in one error line.
  std::vector<std::vector<std::string>> expected_errors;
};

inline std::filesystem::path corpus_dir() { return std::filesystem::path(SOCKLB_TESTS_DIR) / "corpus"; }

inline std::string read_whole(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::vector<std::string> split_fragments(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t bar = line.find(" | ", start);
    out.push_back(line.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) return out;
    start = bar + 3;
  }
}

// tests/corpus/bad/<case>.yaml with <case>.expect, in name order.
inline std::vector<BadInput> committed_bad_inputs() {
  std::vector<BadInput> out;
  for (const auto& entry : std::filesystem::directory_iterator(corpus_dir() / "bad")) {
    if (entry.path().extension() != ".yaml") continue;
    BadInput input{entry.path().stem().string(), read_whole(entry.path()), {}};
    std::istringstream expect(read_whole(std::filesystem::path(entry.path()).replace_extension(".expect")));
    for (std::string line; std::getline(expect, line);)
      if (line.rfind("error: ", 0) == 0) input.expected_errors.push_back(split_fragments(line.substr(7)));
    out.push_back(std::move(input));
  }
  std::sort(out.begin(), out.end(), [](const BadInput& a, const BadInput& b) { return a.name < b.name; });
  return out;
}

// Too big to commit: a service of 100k backends, a file over the reader's
// 64 MiB limit, and nesting far past the parser's depth guard (500 levels).
inline std::vector<BadInput> generated_bad_inputs() {
  const std::string base = read_whole(corpus_dir() / "base" / "web.yaml");
  const std::string service = base.substr(0, base.find("---"));
  std::vector<BadInput> out;

  std::string slice = "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, labels: "
                      "{kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n";
  for (int i = 0; i < 100000; ++i)
    slice += "- addresses: [10." + std::to_string(200 + i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
             std::to_string(i % 256) + "]\n";
  out.push_back({"generated-100k-backends", service + slice,
                 {{"web.yaml:1", "Service default/web", "10.96.0.10:80/TCP", "has 100000 backends"}}});

  std::string huge = base;
  const std::string padding = "# padding to make this file larger than the reader accepts\n";
  huge.reserve((65u << 20) + padding.size());
  while (huge.size() <= (65u << 20)) huge += padding;
  out.push_back({"generated-huge-65MiB", std::move(huge), {{"web.yaml", "over the limit of 67108864", "split it"}}});

  const int deep = 100000;
  out.push_back({"generated-nested-100k-flow",
                 service.substr(0, service.find("  selector:")) + "  selector: " + std::string(deep, '[') +
                     std::string(deep, ']') + "\n",
                 {{"web.yaml:7", "invalid YAML: nested too deeply"}}});
  std::string block;
  for (int i = 0; i < deep; ++i) block += "- ";
  out.push_back({"generated-nested-100k-block", base + "---\n" + block + "x\n", {{"web.yaml:16", "invalid YAML: nested too deeply"}}});
  // just under the guard: parses, and is a wrong type where a mapping belongs
  out.push_back({"generated-nested-400",
                 service.substr(0, service.find("  selector:")) + "  selector: " + std::string(400, '[') +
                     std::string(400, ']') + "\n  ports:\n  - {name: http, port: 80, targetPort: 8080}\n",
                 {{"web.yaml:7", "Service default/web", "spec.selector", "expected a mapping"}}});
  return out;
}

}  // namespace socklb::test

#pragma once
// One YAML document as a small tree, built from libyaml's parse events;
// Field (yaml_field.h) reads this tree. (A generic node graph, yaml-cpp's
// YAML::Load, cost a shared_ptr and a std::set entry per node.)
//
// Only what the manifest parsers ask: the kind of each node, a scalar's text
// and whether it was written plain (unquoted, untagged: `80` is a number to
// Kubernetes, `"80"` a string), and the line of each node. Aliases point at
// their anchored node.

#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace socklb {

struct YamlNode {
  enum class Type : unsigned char { Null, Scalar, Sequence, Map };
  Type type = Type::Null;
  bool plain = false;  // a scalar written without quotes or tag
  int line = 0;        // 0-based, in the document's text
  std::string scalar;  // a scalar's text (also set for a Null written as ~ or null)
  // A sequence's items; a map's keys and values, alternating, in document order.
  std::vector<const YamlNode*> children;

  // The value of the first key whose scalar text is `key`; nullptr when absent.
  const YamlNode* find(std::string_view key) const;
};

class YamlDocument {
 public:
  const YamlNode* root() const { return root_; }  // nullptr for an empty document

 private:
  friend class YamlTreeBuilder;
  friend class JsonTreeBuilder;  // kube/json_tree.h: API objects arrive as JSON
  std::deque<YamlNode> nodes_;  // stable addresses as nodes are added
  const YamlNode* root_ = nullptr;
};

using YamlDocumentPtr = std::shared_ptr<const YamlDocument>;

class YamlSyntaxError : public std::runtime_error {
 public:
  YamlSyntaxError(const std::string& message, int line) : std::runtime_error(message), line_(line) {}
  int line() const { return line_; }  // 0-based, in the document's text

 private:
  int line_;
};

// Parses the first document of `text`. Throws YamlSyntaxError.
YamlDocumentPtr load_yaml_document(std::string_view text);

}  // namespace socklb

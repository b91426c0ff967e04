#include "manifests/yaml_tree.h"

#include <yaml.h>

#include <string>
#include <unordered_map>

namespace socklb {
namespace {

// Deeper nesting than any Kubernetes object needs is an attack or a mistake:
// it stops here, before the tree (and the parsers walking it) grow with it.
constexpr std::size_t kMaxDepth = 500;

// A null is a plain, untagged scalar spelled as YAML's core schema spells
// null, or nothing at all (`key:`).
bool is_null(const yaml_event_t& e) {
  if (!e.data.scalar.plain_implicit) return false;
  std::string_view v(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
  return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
}

std::string text_of(const yaml_char_t* s) { return s ? reinterpret_cast<const char*>(s) : ""; }

struct Parser {
  yaml_parser_t p;
  explicit Parser(std::string_view text) {
    if (!yaml_parser_initialize(&p)) throw std::bad_alloc();
    yaml_parser_set_input_string(&p, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  }
  ~Parser() { yaml_parser_delete(&p); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
};

struct Event {
  yaml_event_t e{};
  ~Event() { yaml_event_delete(&e); }
};

}  // namespace

const YamlNode* YamlNode::find(std::string_view key) const {
  if (type != Type::Map) return nullptr;
  for (std::size_t i = 0; i + 1 < children.size(); i += 2)
    if (children[i]->type == Type::Scalar && children[i]->scalar == key) return children[i + 1];
  return nullptr;
}

// Builds the tree from libyaml's parse events. libyaml (the parser under
// PyYAML) reads the bench's 1,250-slice file in about a seventh of the time
// yaml-cpp took (30-41 ms against 286), which made most of a cold start.
class YamlTreeBuilder {
 public:
  YamlDocumentPtr build(std::string_view text) {
    auto doc = std::make_shared<YamlDocument>();
    doc_ = doc.get();
    Parser parser(text);
    for (;;) {
      Event event;
      if (!yaml_parser_parse(&parser.p, &event.e)) {
        std::string problem = parser.p.problem ? parser.p.problem : "cannot be parsed";
        if (parser.p.context) problem = std::string(parser.p.context) + ": " + problem;
        throw YamlSyntaxError(problem, static_cast<int>(parser.p.problem_mark.line));
      }
      const yaml_event_t& e = event.e;
      int line = static_cast<int>(e.start_mark.line);
      switch (e.type) {
        case YAML_SCALAR_EVENT: {
          YamlNode& n = add(line, e.data.scalar.anchor);
          n.scalar.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
          n.type = is_null(e) ? YamlNode::Type::Null : YamlNode::Type::Scalar;
          n.plain = e.data.scalar.plain_implicit;  // unquoted and untagged
          break;
        }
        case YAML_ALIAS_EVENT: {
          auto it = anchors_.find(text_of(e.data.alias.anchor));
          // anchored nodes count once complete: an alias inside its own node would make a cycle
          if (it == anchors_.end()) throw YamlSyntaxError("an alias names an anchor not complete before it", line);
          attach(it->second);
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
          open(line, e.data.sequence_start.anchor, YamlNode::Type::Sequence);
          break;
        case YAML_MAPPING_START_EVENT:
          open(line, e.data.mapping_start.anchor, YamlNode::Type::Map);
          break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          close();
          break;
        case YAML_DOCUMENT_END_EVENT:  // only the first document
        case YAML_STREAM_END_EVENT:
          return doc;
        default:  // stream and document start
          break;
      }
    }
  }

 private:
  YamlNode& add(int line, const yaml_char_t* anchor) {
    YamlNode& n = doc_->nodes_.emplace_back();
    n.line = line;
    attach(&n);
    if (anchor) anchors_[text_of(anchor)] = &n;  // a scalar is complete at once
    return n;
  }

  void open(int line, const yaml_char_t* anchor, YamlNode::Type type) {
    if (open_.size() >= kMaxDepth)
      throw YamlSyntaxError("nested too deeply (the parser stops at " + std::to_string(kMaxDepth) + " levels)", line);
    YamlNode& n = doc_->nodes_.emplace_back();
    n.line = line;
    n.type = type;
    attach(&n);
    open_.push_back({&n, text_of(anchor)});
  }

  void close() {
    if (!open_.back().anchor.empty()) anchors_[open_.back().anchor] = open_.back().node;
    open_.pop_back();
  }

  void attach(const YamlNode* n) {
    if (open_.empty()) doc_->root_ = n;
    else open_.back().node->children.push_back(n);
  }

  struct Open {
    YamlNode* node;
    std::string anchor;  // empty: none
  };

  YamlDocument* doc_ = nullptr;
  std::vector<Open> open_;  // the collections being filled, innermost last
  std::unordered_map<std::string, const YamlNode*> anchors_;
};

YamlDocumentPtr load_yaml_document(std::string_view text) { return YamlTreeBuilder().build(text); }

}  // namespace socklb

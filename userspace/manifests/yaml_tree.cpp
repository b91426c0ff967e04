#include "manifests/yaml_tree.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <istream>
#include <streambuf>
#include <unordered_map>

namespace socklb {
namespace {

// yaml-cpp reads from a stream; this one reads the document text in place.
class TextBuffer : public std::streambuf {
 public:
  explicit TextBuffer(std::string_view text) {
    char* begin = const_cast<char*>(text.data());  // read only: get area
    setg(begin, begin, begin + text.size());
  }
};

}  // namespace

const YamlNode* YamlNode::find(std::string_view key) const {
  if (type != Type::Map) return nullptr;
  for (std::size_t i = 0; i + 1 < children.size(); i += 2)
    if (children[i]->type == Type::Scalar && children[i]->scalar == key) return children[i + 1];
  return nullptr;
}

// Builds the tree from yaml-cpp's parse events: the scanner and parser of
// yaml-cpp without its YAML::Node graph (one shared_ptr and one std::set
// entry per node, which made most of its cost).
class YamlTreeBuilder : public YAML::EventHandler {
 public:
  YamlDocumentPtr build(std::string_view text) {
    TextBuffer buffer(text);
    std::istream in(&buffer);
    auto doc = std::make_shared<YamlDocument>();
    doc_ = doc.get();
    try {
      YAML::Parser parser(in);
      parser.HandleNextDocument(*this);  // only the first document, as YAML::Load
    } catch (const YAML::DeepRecursion& e) {
      // yaml-cpp says only "bad file" when it stops at its depth guard
      throw YamlSyntaxError("nested too deeply (the parser stops at about 500 levels)", e.mark.line >= 0 ? e.mark.line : 0);
    } catch (const YAML::Exception& e) {
      throw YamlSyntaxError(e.msg, e.mark.line >= 0 ? e.mark.line : 0);
    }
    return doc;
  }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { add(mark, anchor).type = YamlNode::Type::Null; }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    // anchored nodes count once complete: an alias inside its own node would make a cycle
    if (it == anchors_.end()) throw YamlSyntaxError("an alias names an anchor not complete before it", mark.line);
    attach(it->second);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor, const std::string& value) override {
    YamlNode& n = add(mark, anchor);
    n.type = YamlNode::Type::Scalar;
    n.plain = tag == "?";  // yaml-cpp tags plain scalars "?" and quoted ones "!"
    n.scalar = value;
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(mark, anchor, YamlNode::Type::Sequence);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(mark, anchor, YamlNode::Type::Map);
  }
  void OnMapEnd() override { close(); }

 private:
  YamlNode& add(const YAML::Mark& mark, YAML::anchor_t anchor) {
    YamlNode& n = doc_->nodes_.emplace_back();
    n.line = mark.line >= 0 ? mark.line : 0;
    attach(&n);
    if (anchor != YAML::NullAnchor) anchors_[anchor] = &n;  // a scalar is complete at once
    return n;
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, YamlNode::Type type) {
    YamlNode& n = doc_->nodes_.emplace_back();
    n.line = mark.line >= 0 ? mark.line : 0;
    n.type = type;
    attach(&n);
    open_.push_back({&n, anchor});
  }

  void close() {
    if (open_.back().anchor != YAML::NullAnchor) anchors_[open_.back().anchor] = open_.back().node;
    open_.pop_back();
  }

  void attach(const YamlNode* n) {
    if (open_.empty()) doc_->root_ = n;
    else open_.back().node->children.push_back(n);
  }

  struct Open {
    YamlNode* node;
    YAML::anchor_t anchor;
  };

  YamlDocument* doc_ = nullptr;
  std::vector<Open> open_;  // the collections being filled, innermost last
  std::unordered_map<YAML::anchor_t, const YamlNode*> anchors_;
};

YamlDocumentPtr load_yaml_document(std::string_view text) { return YamlTreeBuilder().build(text); }

}  // namespace socklb

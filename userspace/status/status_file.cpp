#include "status/status_file.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace socklb {
namespace fs = std::filesystem;

fs::path status_file_for(const fs::path& bpffs_dir) {
  std::string name = fs::absolute(bpffs_dir).lexically_normal().string();
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  for (char& c : name)
    if (c == '/') c = '-';
  if (!name.empty() && name.front() == '-') name.erase(0, 1);
  return fs::path("/run/socklb") / (name + ".json");
}

void write_status_file(const fs::path& file, const nlohmann::json& status) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  fs::path staged = file;
  staged += ".tmp";
  {
    std::ofstream out(staged, std::ios::trunc);
    out << status.dump() << "\n";
    if (!out) throw std::runtime_error("cannot write the status file " + staged.string());
  }
  fs::rename(staged, file, ec);
  if (ec) throw std::runtime_error("cannot put the status file in place at " + file.string() + ": " + ec.message());
}

std::optional<nlohmann::json> read_status_file(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("the status file " + file.string() + " is not JSON (" + e.what() + ")");
  }
}

}  // namespace socklb

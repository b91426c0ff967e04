#include "net/ip_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace socklb {
namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool has_v4_prefix(const std::array<uint8_t, 16>& bytes) {
  return std::memcmp(bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}

}  // namespace

std::string_view family_name(Family family) { return family == Family::V4 ? "IPv4" : "IPv6"; }

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress ip;
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return from_v4(v4.s_addr);
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) != 1) return std::nullopt;
  std::memcpy(ip.bytes_.data(), &v6, 16);
  if (has_v4_prefix(ip.bytes_)) return std::nullopt;
  return ip;
}

IpAddress IpAddress::from_words(const uint32_t words[4]) {
  IpAddress ip;
  std::memcpy(ip.bytes_.data(), words, 16);
  return ip;
}

IpAddress IpAddress::from_v4(uint32_t network_order) {
  IpAddress ip;
  std::memcpy(ip.bytes_.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
  std::memcpy(ip.bytes_.data() + 12, &network_order, 4);
  return ip;
}

Family IpAddress::family() const { return has_v4_prefix(bytes_) ? Family::V4 : Family::V6; }

void IpAddress::to_words(uint32_t out[4]) const { std::memcpy(out, bytes_.data(), 16); }

uint32_t IpAddress::v4() const {
  uint32_t word;
  std::memcpy(&word, bytes_.data() + 12, 4);
  return word;
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) {
    in_addr v4{this->v4()};
    inet_ntop(AF_INET, &v4, buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, bytes_.data(), buf, sizeof(buf));
  }
  return buf;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto base = IpAddress::parse(text.substr(0, slash));
  if (!base) return std::nullopt;
  auto bits_text = text.substr(slash + 1);
  int bits = -1;
  auto [end, ec] = std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), bits);
  int max_bits = base->is_v4() ? 32 : 128;
  if (ec != std::errc() || end != bits_text.data() + bits_text.size() || bits < 0 || bits > max_bits)
    return std::nullopt;
  Cidr cidr;
  cidr.base_ = *base;
  cidr.prefix_bits_ = base->is_v4() ? 96 + bits : bits;
  return cidr;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.family() != family()) return false;
  const auto& a = ip.bytes();
  const auto& b = base_.bytes();
  int full = prefix_bits_ / 8, rest = prefix_bits_ % 8;
  if (std::memcmp(a.data(), b.data(), full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

std::string Cidr::str() const {
  return base_.str() + "/" + std::to_string(base_.is_v4() ? prefix_bits_ - 96 : prefix_bits_);
}

}  // namespace socklb

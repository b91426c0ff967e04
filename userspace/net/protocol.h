#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace socklb {

// IANA protocol numbers, as the kernel reports them in ctx->protocol.
enum class Protocol : uint8_t { TCP = 6, UDP = 17, SCTP = 132 };

inline std::optional<Protocol> parse_protocol(std::string_view text) {
  if (text == "TCP") return Protocol::TCP;
  if (text == "UDP") return Protocol::UDP;
  if (text == "SCTP") return Protocol::SCTP;
  return std::nullopt;
}

inline std::string_view protocol_name(Protocol protocol) {
  switch (protocol) {
    case Protocol::TCP: return "TCP";
    case Protocol::UDP: return "UDP";
    case Protocol::SCTP: return "SCTP";
  }
  return "?";
}

}  // namespace socklb

#include "cvol/peer/connection_limits.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace cvol::peer {

ConnectionLimits::Slot::~Slot() { limits_.Release(address_, handshaking_); }

void ConnectionLimits::Slot::HandshakeEnded() {
  if (!handshaking_) return;
  handshaking_ = false;
  limits_.EndHandshake(address_);
}

ConnectionLimits::Admission ConnectionLimits::Admit(const std::string& address) {
  absl::MutexLock lock(&mu_);
  Admission admission;
  // The total first: when it is reached, no address is to blame alone.
  if (total_ >= caps_.total) {
    admission.exceeded = Cap::kTotal;
    admission.why = absl::StrCat(total_, " connections open, the cap of all addresses");
    return admission;
  }
  const auto it = by_address_.find(address);
  const Counts counts = it == by_address_.end() ? Counts{} : it->second;
  if (counts.connections >= caps_.per_address) {
    admission.exceeded = Cap::kPerAddress;
    admission.why = absl::StrCat(address, " holds ", counts.connections,
                                 " connections, the cap per address");
    return admission;
  }
  if (counts.handshakes >= caps_.handshakes_per_address) {
    admission.exceeded = Cap::kHandshakesPerAddress;
    admission.why = absl::StrCat(address, " holds ", counts.handshakes,
                                 " connections in the TLS handshake, the cap per address");
    return admission;
  }
  Counts& mine = by_address_[address];
  ++mine.connections;
  ++mine.handshakes;
  ++total_;
  admission.slot.reset(new Slot(*this, address));
  return admission;
}

size_t ConnectionLimits::total() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

const char* ConnectionLimits::Name(Cap cap) {
  switch (cap) {
    case Cap::kTotal:
      return "total";
    case Cap::kPerAddress:
      return "per-address";
    case Cap::kHandshakesPerAddress:
      return "handshakes-per-address";
  }
  return "?";
}

void ConnectionLimits::EndHandshake(const std::string& address) {
  absl::MutexLock lock(&mu_);
  --by_address_[address].handshakes;
}

void ConnectionLimits::Release(const std::string& address, bool handshaking) {
  absl::MutexLock lock(&mu_);
  const auto it = by_address_.find(address);
  if (handshaking) --it->second.handshakes;
  if (--it->second.connections == 0) by_address_.erase(it);
  --total_;
}

}  // namespace cvol::peer

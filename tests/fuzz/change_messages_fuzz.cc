// The bodies of the cluster change's peer requests and replies, as cvold
// reads them (change_messages.h: migrate_start, freeze and its reply,
// recopy and its reply, apply, abort, release). The first byte picks the
// message; the rest is the JSON body. A body that is accepted must come
// back the same through ToJson.
#include <cstddef>
#include <cstdint>

#include "change_messages.h"
#include "fuzz_input.h"
#include "nlohmann/json.hpp"

namespace {

template <typename Message>
void RoundTrip(const nlohmann::json& body) {
  absl::StatusOr<Message> m = Message::FromJson(body);
  if (!m.ok()) return;
  const nlohmann::json out = m->ToJson();
  absl::StatusOr<Message> again = Message::FromJson(out);
  if (!again.ok() || again->ToJson() != out) cvol::fuzz::Violated("FromJson(ToJson(m)) differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace d = cvol::daemon;
  cvol::fuzz::FuzzInput in(data, size);
  const unsigned which = in.Select(8);
  // As the peer layer parses a body: no exceptions, a parse error is a
  // discarded value.
  const nlohmann::json body = nlohmann::json::parse(in.rest(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;
  switch (which) {
    case 0: RoundTrip<d::MigrateStartRequest>(body); break;
    case 1: RoundTrip<d::FreezeRequest>(body); break;
    case 2: RoundTrip<d::FreezeReply>(body); break;
    case 3: RoundTrip<d::RecopyRequest>(body); break;
    case 4: RoundTrip<d::RecopyReply>(body); break;
    case 5: RoundTrip<d::ApplyRequest>(body); break;
    case 6: RoundTrip<d::AbortRequest>(body); break;
    case 7: RoundTrip<d::ReleaseRequest>(body); break;
  }
  return 0;
}

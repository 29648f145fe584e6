// The answers of etcd's v3 JSON gateway as cvolstore reads them
// (userspace/lib/store/src/etcd_gateway_json.h): whatever an etcd, or
// anything posing as one on the cluster network, sends back. The first
// byte picks the answer:
//   '0' a range      '1' a txn          '2' a lease grant  '3' a keepalive
//   '4' a watch stream, in pieces of 1-64 bytes (the next byte picks the size)
//   '5' one watch line
//   '6' an error body (the next byte picks the HTTP status: '0' 200, '1'
//       400, '2' 401, '3' 403, '4' 404, '5' 412, '6' 500, '7' 503, '8' none)
//   '7' a login      '8' a member's status                  '9' a member list
// Beyond "no crash, no exception": what the parsers promise their callers.
// A range keeps every kv of the answer, in order, and re-encoded the
// gateway's way parses to the same result; so does a txn. A granted lease
// is never 0. A decided watch is an error, a change with events whose
// revision is the last event's (deletes carry version 0), or a compaction
// at a revision above 0; the stream gives the same verdict whatever the
// pieces it arrives in, and the same as its lines read one by one. An
// error body is an error (code 1-16) unless it is a 200 answer that is not
// an error line. A login's token is never empty, and its error never
// quotes the answer (which holds the token).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "etcd_gateway_json.h"
#include "fuzz_input.h"

namespace {

namespace gw = cvol::store::gateway;
using cvol::fuzz::Violated;
using cvol::store::KeyValue;
using cvol::store::WatchEvent;
using cvol::store::WatchResult;

// The answer as the gateway would encode this result.
std::string EncodeRange(const cvol::store::RangeResult& r) {
  gw::Json kvs = gw::Json::array();
  for (const KeyValue& kv : r.kvs) {
    kvs.push_back({{"key", absl::Base64Escape(kv.key)},
                   {"value", absl::Base64Escape(kv.value)},
                   {"create_revision", absl::StrCat(kv.create_revision)},
                   {"mod_revision", absl::StrCat(kv.mod_revision)},
                   {"version", absl::StrCat(kv.version)},
                   {"lease", absl::StrCat(kv.lease)}});
  }
  return gw::Json{{"header", {{"revision", absl::StrCat(r.revision)}}},
                  {"kvs", kvs},
                  {"count", absl::StrCat(r.kvs.size())}}
      .dump();
}

void CheckRange(const std::string& body) {
  absl::StatusOr<cvol::store::RangeResult> r = gw::ParseRange(body);
  if (!r.ok()) return;
  // Accepted, so a JSON object: its kvs array (if any) is what we got.
  const gw::Json json = gw::Json::parse(body, nullptr, false);
  auto kvs = json.find("kvs");
  const size_t listed = kvs != json.end() && kvs->is_array() ? kvs->size() : 0;
  if (r->kvs.size() != listed) Violated("a range lost or invented kvs");
  absl::StatusOr<cvol::store::RangeResult> again = gw::ParseRange(EncodeRange(*r));
  if (!again.ok() || again->revision != r->revision || again->kvs != r->kvs) {
    Violated("a range re-encoded parses differently");
  }
}

void CheckTxn(const std::string& body) {
  absl::StatusOr<cvol::store::TxnResult> t = gw::ParseTxnResponse(body);
  if (!t.ok()) return;
  const std::string encoded =
      gw::Json{{"header", {{"revision", absl::StrCat(t->revision)}}}, {"succeeded", t->succeeded}}
          .dump();
  absl::StatusOr<cvol::store::TxnResult> again = gw::ParseTxnResponse(encoded);
  if (!again.ok() || again->revision != t->revision || again->succeeded != t->succeeded) {
    Violated("a txn answer re-encoded parses differently");
  }
}

bool SameVerdict(const absl::StatusOr<WatchResult>& a, const absl::StatusOr<WatchResult>& b) {
  if (a.ok() != b.ok()) return false;
  if (!a.ok()) return a.status() == b.status();
  return a->outcome == b->outcome && a->revision == b->revision && a->events == b->events;
}

void CheckVerdict(const absl::StatusOr<WatchResult>& v) {
  if (!v.ok()) return;
  switch (v->outcome) {
    case WatchResult::Outcome::kChanged:
      if (v->events.empty()) Violated("a watch decided a change without events");
      if (v->revision != v->events.back().revision) {
        Violated("a watch's revision is not its last event's");
      }
      for (const WatchEvent& e : v->events) {
        if (e.type == WatchEvent::Type::kDelete && e.version != 0) {
          Violated("a delete event with a version");
        }
      }
      break;
    case WatchResult::Outcome::kCompacted:
      if (v->revision <= 0) Violated("a compaction at revision 0 or below");
      if (!v->events.empty()) Violated("a compaction with events");
      break;
    case WatchResult::Outcome::kTimedOut:
      Violated("a watch line decided a time-out");
  }
}

// The stream in pieces of `piece` bytes, against the same stream at once
// and against its lines one by one.
void CheckWatchStream(size_t piece, absl::string_view stream) {
  gw::WatchStreamParser pieces;
  for (absl::string_view rest = stream; !rest.empty();) {
    const size_t n = rest.size() < piece ? rest.size() : piece;
    const bool decided = pieces.Feed(rest.substr(0, n));
    if (decided != pieces.decided()) Violated("Feed's answer is not decided()");
    rest.remove_prefix(n);
  }
  pieces.Finish();

  gw::WatchStreamParser whole;
  whole.Feed(stream);
  whole.Finish();

  bool created = false;
  std::optional<absl::StatusOr<WatchResult>> verdict;
  for (size_t start = 0; start <= stream.size() && !verdict.has_value();) {
    size_t nl = stream.find('\n', start);
    if (nl == absl::string_view::npos) nl = stream.size();
    gw::WatchLine line = gw::ParseWatchLine(stream.substr(start, nl - start));
    created = created || line.created;
    verdict = std::move(line.verdict);
    start = nl + 1;
  }

  if (pieces.decided() != whole.decided() || pieces.created() != whole.created() ||
      (pieces.decided() && !SameVerdict(pieces.outcome(), whole.outcome()))) {
    Violated("a watch stream's verdict depends on how it was cut");
  }
  if (whole.decided() != verdict.has_value() || whole.created() != created ||
      (verdict.has_value() && !SameVerdict(whole.outcome(), *verdict))) {
    Violated("a watch stream's verdict is not its lines'");
  }
  if (whole.decided()) CheckVerdict(whole.outcome());
}

void CheckError(unsigned pick, const std::string& body) {
  static constexpr long kHttp[] = {200, 400, 401, 403, 404, 412, 500, 503, 0};
  const long http = kHttp[pick % (sizeof(kHttp) / sizeof(kHttp[0]))];
  absl::StatusOr<gw::Json> json = gw::ParseObject(body);
  if (json.ok()) {
    absl::Status s = gw::ErrorFromObject(*json);
    const int code = static_cast<int>(s.code());
    if (!s.ok() && (code < 1 || code > 16)) Violated("an error object's code is out of range");
  }
  absl::Status s = gw::ErrorFromReply(http, body, "https://etcd.example:2379", "/v3/kv/range");
  const bool error_line = body.rfind("{\"error\"", 0) == 0;
  if (http != 200 && s.ok()) Violated("a non-200 answer passed as no error");
  if (http == 200 && !error_line && !s.ok()) Violated("a 200 answer became an error");
}

void CheckLogin(const std::string& body) {
  absl::StatusOr<std::string> token = gw::ParseAuthToken(body);
  if (token.ok() && token->empty()) Violated("an empty token");
  if (!token.ok() && token.status().message() != "etcd login answer without a token") {
    Violated("a login's error says more than that there is no token");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cvol::fuzz::FuzzInput in(data, size);
  const unsigned which = in.Select(10);
  switch (which) {
    case 0: CheckRange(std::string(in.rest())); break;
    case 1: CheckTxn(std::string(in.rest())); break;
    case 2: {
      absl::StatusOr<int64_t> id = gw::ParseLeaseGrant(std::string(in.rest()));
      if (id.ok() && *id == 0) Violated("lease 0 granted");
      break;
    }
    case 3: (void)gw::ParseKeepAliveTtl(std::string(in.rest())); break;
    case 4: {
      const size_t piece = 1 + in.Select(64);
      CheckWatchStream(piece, in.absl_rest());
      break;
    }
    case 5: {
      gw::WatchLine line = gw::ParseWatchLine(in.absl_rest());
      if (line.verdict.has_value()) CheckVerdict(*line.verdict);
      break;
    }
    case 6: {
      const unsigned pick = in.Select(9);
      CheckError(pick, std::string(in.rest()));
      break;
    }
    case 7: CheckLogin(std::string(in.rest())); break;
    case 8: (void)gw::ParseStatusHasLeader(std::string(in.rest())); break;
    case 9: (void)gw::ParseMemberCount(std::string(in.rest())); break;
  }
  return 0;
}

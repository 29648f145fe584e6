#include "cvol/event_netlink.h"

#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <array>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "linux/dm-cvol.h"

namespace cvol {
namespace {

// dm's DM_NAME_LEN, the NUL included.
constexpr uint16_t kDmNameMax = 128;

std::array<nla_policy, CVOL_ATTR_MAX + 1> MakePolicy() {
  std::array<nla_policy, CVOL_ATTR_MAX + 1> p{};
  // String lengths count the NUL, which libnl also checks is there.
  p[CVOL_ATTR_VOL_UUID] = {NLA_STRING, 0, CVOL_UUID_MAX + 1};
  p[CVOL_ATTR_DM_NAME] = {NLA_STRING, 0, kDmNameMax};
  p[CVOL_ATTR_DM_DEV] = {NLA_U32, 0, 0};
  p[CVOL_ATTR_SEQ] = {NLA_U64, 0, 0};
  p[CVOL_ATTR_TYPE] = {NLA_U32, 0, 0};
  p[CVOL_ATTR_TIME_NS] = {NLA_U64, 0, 0};
  p[CVOL_ATTR_ID] = {NLA_U64, 0, 0};
  p[CVOL_ATTR_VEXT] = {NLA_U64, 0, 0};
  p[CVOL_ATTR_COUNT] = {NLA_U64, 0, 0};
  p[CVOL_ATTR_DEV_SLOT] = {NLA_U32, 0, 0};
  p[CVOL_ATTR_VALUE] = {NLA_U64, 0, 0};
  p[CVOL_ATTR_LOST] = {NLA_U64, 0, 0};
  return p;
}

std::optional<uint64_t> U64(nlattr* a) {
  return a ? std::optional<uint64_t>(nla_get_u64(a)) : std::nullopt;
}
std::optional<uint32_t> U32(nlattr* a) {
  return a ? std::optional<uint32_t>(nla_get_u32(a)) : std::nullopt;
}

}  // namespace

absl::StatusOr<Event> DecodeEventMessage(struct nl_msg* msg) {
  static const std::array<nla_policy, CVOL_ATTR_MAX + 1> policy = MakePolicy();
  nlmsghdr* hdr = nlmsg_hdr(msg);
  if (!genlmsg_valid_hdr(hdr, 0)) {
    return absl::InvalidArgumentError("cvol event: truncated generic netlink header");
  }
  const genlmsghdr* ghdr = static_cast<const genlmsghdr*>(nlmsg_data(hdr));
  if (ghdr->cmd != CVOL_CMD_EVENT) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cvol event: command ", ghdr->cmd, " is not CVOL_CMD_EVENT (", CVOL_CMD_EVENT, ")"));
  }
  std::array<nlattr*, CVOL_ATTR_MAX + 1> tb{};
  if (int err = genlmsg_parse(hdr, 0, tb.data(), CVOL_ATTR_MAX, policy.data()); err < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cvol event: bad attributes: ", nl_geterror(err)));
  }
  if (!tb[CVOL_ATTR_SEQ]) return absl::InvalidArgumentError("cvol event: no CVOL_ATTR_SEQ");
  if (!tb[CVOL_ATTR_TYPE]) return absl::InvalidArgumentError("cvol event: no CVOL_ATTR_TYPE");
  if (!tb[CVOL_ATTR_VOL_UUID]) {
    return absl::InvalidArgumentError("cvol event: no CVOL_ATTR_VOL_UUID");
  }
  Event e;
  e.seq = nla_get_u64(tb[CVOL_ATTR_SEQ]);
  e.type = static_cast<EventType>(nla_get_u32(tb[CVOL_ATTR_TYPE]));
  e.uuid = nla_get_string(tb[CVOL_ATTR_VOL_UUID]);
  if (e.uuid.empty()) return absl::InvalidArgumentError("cvol event: empty CVOL_ATTR_VOL_UUID");
  if (tb[CVOL_ATTR_DM_NAME]) e.dm_name = nla_get_string(tb[CVOL_ATTR_DM_NAME]);
  e.dm_dev = U32(tb[CVOL_ATTR_DM_DEV]);
  e.time_ns = U64(tb[CVOL_ATTR_TIME_NS]);
  e.id = U64(tb[CVOL_ATTR_ID]);
  e.vext = U64(tb[CVOL_ATTR_VEXT]);
  e.count = U64(tb[CVOL_ATTR_COUNT]);
  e.dev_slot = U32(tb[CVOL_ATTR_DEV_SLOT]);
  e.value = U64(tb[CVOL_ATTR_VALUE]);
  e.lost = U64(tb[CVOL_ATTR_LOST]);
  return e;
}

}  // namespace cvol

// clusterctl end to end against a fake cvold: the request each command line
// sends, human and --json output, exit codes, usage errors, progress.
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli.h"
#include "control_fake_server.h"
#include "cvol/control/protocol.h"
#include "events_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace cvol::clusterctl {
namespace {

using ::cvol::control::EncodeOk;
using ::cvol::control::EncodeProgress;
using ::cvol::control::EncodeEvent;
using ::cvol::control::Request;
using ::cvol::control::testing::FakeServer;
using ::nlohmann::json;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct RunResult {
  int code;
  std::string out;
  std::string err;
};

class ClusterctlCli : public ::testing::Test {
 protected:
  RunResult Run(std::vector<std::string> args, Environment env = {}) {
    args.insert(args.begin(), {"--socket", server_.socket_path()});
    std::ostringstream out, err;
    int code = RunClusterctl(args, out, err, env);
    return {code, out.str(), err.str()};
  }

  // The one request the last command sent.
  Request OnlyRequest() {
    std::vector<Request> requests = server_.requests();
    EXPECT_EQ(requests.size(), 1u);
    return requests.empty() ? Request{} : requests.back();
  }

  static json Volume() {
    return json::parse(R"({"name":"pool1/vol1","pool":"pool1","uuid":"u-1",
        "size_bytes":10737418240,"extents":2560,"generation":3,
        "device":"/dev/mapper/pool1-vol1","active":true,
        "runs":[{"vext":0,"pv":"pv1","pext":0,"count":2560}],"moves":[]})");
  }
  static json Pool() {
    return json::parse(R"({"name":"pool1","uuid":"p-1","extent_size_bytes":4194304,
        "pv_count":2,"volume_count":1,"total_extents":5120,"free_extents":2560,
        "total_bytes":21474836480,"free_bytes":10737418240})");
  }
  static json Pv() {
    return json::parse(R"({"name":"pv1","uuid":"v-1","pool":"pool1","slot":0,
        "path":"/dev/sdb","extents":2560,"free_extents":0,"data_offset_bytes":1048576,
        "size_bytes":10738466816})");
  }
  static json Move(uint64_t copied, const char* phase) {
    return {{"volume", "pool1/vol1"}, {"vext", 5},
            {"src", {{"pv", "pv1"}, {"pext", 5}}}, {"dst", {{"pv", "pv2"}, {"pext", 0}}},
            {"phase", phase}, {"copied_regions", copied}, {"regions", 64}};
  }

  FakeServer server_;
};

TEST_F(ClusterctlCli, VolumeCreateSendsBytesAndPrintsASummary) {
  server_.RespondOk("volume.create", Volume());
  RunResult r = Run({"volume", "create", "pool1/vol1", "--size", "10G"});
  EXPECT_EQ(r.code, 0) << r.err;
  Request request = OnlyRequest();
  EXPECT_EQ(request.command, "volume.create");
  EXPECT_EQ(request.args, json({{"volume", "pool1/vol1"}, {"size_bytes", 10737418240ull}}));
  EXPECT_EQ(r.out, "Created volume pool1/vol1: 10.00 GiB at /dev/mapper/pool1-vol1\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(ClusterctlCli, RequestForEachCommandLine) {
  server_.RespondOk("pv.create", Pv());
  server_.RespondOk("pv.list", {{"pvs", json::array()}});
  server_.RespondOk("pv.show", Pv());
  server_.RespondOk("pv.remove", json::object());
  server_.RespondOk("pool.create", Pool());
  server_.RespondOk("pool.list", {{"pools", json::array()}});
  server_.RespondOk("pool.show", Pool());
  server_.RespondOk("volume.list", {{"volumes", json::array()}});
  server_.RespondOk("volume.show", Volume());
  server_.RespondOk("volume.resize", Volume());
  server_.RespondOk("volume.remove", json::object());
  server_.RespondOk("volume.move", {{"moves", json::array({Move(0, "copying")})}});
  server_.RespondOk("status", json::object());
  struct Case {
    std::vector<std::string> args;
    std::string command;
    json expected_args;
  };
  const std::vector<Case> cases = {
      {{"pv", "create", "/dev/sdb", "--pool", "pool1"}, "pv.create",
       {{"device", "/dev/sdb"}, {"pool", "pool1"}}},
      {{"pv", "create", "/dev/sdc", "--pool=pool1", "--name", "fast1", "--force"}, "pv.create",
       {{"device", "/dev/sdc"}, {"pool", "pool1"}, {"name", "fast1"}, {"force", true}}},
      {{"pv", "list"}, "pv.list", json::object()},
      {{"pv", "list", "--pool", "pool1"}, "pv.list", {{"pool", "pool1"}}},
      {{"pv", "show", "pv1"}, "pv.show", {{"pv", "pv1"}}},
      {{"pv", "show", "/dev/disk/by-id/x"}, "pv.show", {{"pv", "/dev/disk/by-id/x"}}},
      {{"pv", "remove", "pv1"}, "pv.remove", {{"pv", "pv1"}}},
      {{"pv", "remove", "pv1", "--force"}, "pv.remove", {{"pv", "pv1"}, {"force", true}}},
      {{"pool", "create", "pool1"}, "pool.create", {{"pool", "pool1"}}},
      {{"pool", "create", "pool1", "--extent-size", "1M"}, "pool.create",
       {{"pool", "pool1"}, {"extent_size_bytes", 1048576}}},
      {{"pool", "list"}, "pool.list", json::object()},
      {{"pool", "show", "pool1"}, "pool.show", {{"pool", "pool1"}}},
      {{"volume", "list"}, "volume.list", json::object()},
      {{"volume", "list", "--pool", "p2"}, "volume.list", {{"pool", "p2"}}},
      {{"volume", "show", "pool1/vol1"}, "volume.show", {{"volume", "pool1/vol1"}}},
      {{"volume", "resize", "pool1/vol1", "--size", "20G"}, "volume.resize",
       {{"volume", "pool1/vol1"}, {"size_bytes", 20ull << 30}}},
      {{"volume", "remove", "pool1/vol1"}, "volume.remove", {{"volume", "pool1/vol1"}}},
      {{"volume", "move", "pool1/vol1", "--extent", "5"}, "volume.move",
       {{"volume", "pool1/vol1"}, {"vext", 5}}},
      {{"volume", "move", "pool1/vol1", "--extent", "5", "--count", "3", "--to-pv", "pv2"},
       "volume.move",
       {{"volume", "pool1/vol1"}, {"vext", 5}, {"count", 3}, {"to_pv", "pv2"}}},
      {{"status"}, "status", json::object()},
      {{"--json", "status"}, "status", json::object()},
  };
  size_t seen = 0;
  for (const Case& c : cases) {
    RunResult r = Run(c.args);
    EXPECT_EQ(r.code, 0) << c.args[1] << ": " << r.err;
    std::vector<Request> requests = server_.requests();
    ASSERT_EQ(requests.size(), seen + 1) << c.args[0] << " " << c.args[1];
    EXPECT_EQ(requests.back().command, c.command);
    EXPECT_EQ(requests.back().args, c.expected_args) << requests.back().args.dump();
    EXPECT_EQ(requests.back().id, 1u);  // a fresh connection per run
    seen = requests.size();
  }
}

TEST_F(ClusterctlCli, ResizePlusReadsTheVolumeFirst) {
  server_.RespondOk("volume.show", Volume());
  json grown = Volume();
  grown["size_bytes"] = 15ull << 30;
  server_.RespondOk("volume.resize", grown);
  RunResult r = Run({"volume", "resize", "pool1/vol1", "--size", "+5G"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<Request> requests = server_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].command, "volume.show");
  EXPECT_EQ(requests[1].command, "volume.resize");
  EXPECT_EQ(requests[1].args["size_bytes"], 15ull << 30);
  EXPECT_EQ(requests[1].id, 2u);  // same connection
  EXPECT_EQ(r.out, "Resized volume pool1/vol1 to 15.00 GiB\n");
}

TEST_F(ClusterctlCli, ResizeRefusesShrinkAndOverflowClientSide) {
  RunResult shrink = Run({"volume", "resize", "pool1/vol1", "--size=-5G"});
  EXPECT_EQ(shrink.code, 2);
  EXPECT_THAT(shrink.err, HasSubstr("volumes cannot shrink"));
  json huge = Volume();
  huge["size_bytes"] = UINT64_MAX - 10;
  server_.RespondOk("volume.show", huge);
  RunResult overflow = Run({"volume", "resize", "pool1/vol1", "--size", "+1G"});
  EXPECT_EQ(overflow.code, 2);
  EXPECT_THAT(overflow.err, HasSubstr("overflows"));
  for (const Request& request : server_.requests()) EXPECT_NE(request.command, "volume.resize");
}

TEST_F(ClusterctlCli, VolumeListTableAndJson) {
  json other = Volume();
  other["name"] = "pool1/db-data";
  other["size_bytes"] = 512ull << 20;
  other["extents"] = 128;
  other["active"] = false;
  other["device"] = "/dev/mapper/pool1-db--data";
  other["moves"] = json::array({Move(3, "copying")});
  json result = {{"volumes", json::array({Volume(), other})}};
  server_.RespondOk("volume.list", result);

  RunResult human = Run({"volume", "list"});
  EXPECT_EQ(human.code, 0);
  EXPECT_EQ(human.out,
            "NAME                 SIZE  EXTENTS  ACTIVE  MOVES  DEVICE\n"
            "pool1/vol1      10.00 GiB     2560  yes         0  /dev/mapper/pool1-vol1\n"
            "pool1/db-data  512.00 MiB      128  no          1  /dev/mapper/pool1-db--data\n");

  RunResult machine = Run({"volume", "list", "--json"});
  EXPECT_EQ(machine.code, 0);
  EXPECT_EQ(machine.out, result.dump() + "\n");
  EXPECT_EQ(json::parse(machine.out), result);
  // --json before the noun works the same.
  EXPECT_EQ(Run({"--json", "volume", "list"}).out, machine.out);
}

TEST_F(ClusterctlCli, EmptyListsSaySo) {
  server_.RespondOk("pool.list", {{"pools", json::array()}});
  EXPECT_EQ(Run({"pool", "list"}).out, "(no pools)\n");
}

TEST_F(ClusterctlCli, PoolListAndShow) {
  server_.RespondOk("pool.list", {{"pools", json::array({Pool()})}});
  RunResult list = Run({"pool", "list"});
  EXPECT_EQ(list.out,
            "NAME     EXTENT       SIZE       FREE  USED  PVS  VOLUMES\n"
            "pool1  4.00 MiB  20.00 GiB  10.00 GiB   50%    2        1\n");
  json shown = Pool();
  shown["pvs"] = json::array({Pv()});
  shown["volumes"] = json::array({Volume()});
  server_.RespondOk("pool.show", shown);
  RunResult show = Run({"pool", "show", "pool1"});
  EXPECT_EQ(show.code, 0);
  EXPECT_THAT(show.out, StartsWith("Name:        pool1\nUUID:        p-1\n"
                                   "Extent size: 4.00 MiB\n"
                                   "Size:        20.00 GiB (5120 extents)\n"));
  EXPECT_THAT(show.out, HasSubstr("\nPVs:\nNAME  POOL   SLOT  PATH"));
  EXPECT_THAT(show.out, HasSubstr("pv1   pool1     0  /dev/sdb"));
  EXPECT_THAT(show.out, HasSubstr("\nVolumes:\nNAME"));
}

TEST_F(ClusterctlCli, PvShowWithSegmentsAndMissingPath) {
  json pv = Pv();
  pv["path"] = nullptr;
  pv["segments"] = json::array({{{"pext", 0}, {"count", 2560}, {"volume", "pool1/vol1"},
                                 {"vext", 0}}});
  server_.RespondOk("pv.show", pv);
  RunResult r = Run({"pv", "show", "pv1"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("Path:        (not found on this host)\n"));
  EXPECT_THAT(r.out, HasSubstr("Segments:\nPEXT  COUNT  VOLUME      VEXT\n"
                               "   0   2560  pool1/vol1     0\n"));
}

TEST_F(ClusterctlCli, VolumeShow) {
  server_.RespondOk("volume.show", Volume());
  RunResult r = Run({"volume", "show", "pool1/vol1"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out,
            "Name:       pool1/vol1\n"
            "UUID:       u-1\n"
            "Size:       10.00 GiB (2560 extents)\n"
            "Device:     /dev/mapper/pool1-vol1\n"
            "Active:     yes\n"
            "Generation: 3\n"
            "\n"
            "Extent map:\n"
            "VEXT  COUNT  PV   PEXT\n"
            "   0   2560  pv1     0\n");
}

TEST_F(ClusterctlCli, StatusHuman) {
  server_.RespondOk("status", json::parse(R"({
      "daemon":{"version":"0.1.0","pid":42,"uptime_s":3725.5,"host":"node1","protocol":1},
      "etcd":{"endpoints":"http://127.0.0.1:2379","reachable":true,"revision":17},
      "pools":[],"volumes":3,"moves":[]})"));
  RunResult r = Run({"status"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "cvold 0.1.0 on node1: pid 42, up 1h 02m, protocol 1\n"
            "etcd http://127.0.0.1:2379: reachable, revision 17\n"
            "volumes: 3\n\nPools:\n(no pools)\n\nMoves:\n(no moves)\n");
}

TEST_F(ClusterctlCli, ErrorRepliesMapToExitCodes) {
  struct Case {
    absl::Status error;
    int code;
  };
  for (const Case& c : {Case{absl::InvalidArgumentError("bad"), 2},
                        Case{absl::NotFoundError("pool 'pool1' does not exist; create it with: "
                                                 "clusterctl pool create pool1"),
                             3},
                        Case{absl::AlreadyExistsError("exists"), 4},
                        Case{absl::FailedPreconditionError("in use"), 4},
                        Case{absl::AbortedError("raced"), 4},
                        Case{absl::ResourceExhaustedError("full"), 4},
                        Case{absl::UnavailableError("etcd down"), 5},
                        Case{absl::DeadlineExceededError("slow"), 5},
                        Case{absl::PermissionDeniedError("root only"), 6},
                        Case{absl::InternalError("bug"), 1},
                        Case{absl::UnimplementedError("old daemon"), 1}}) {
    server_.RespondError("volume.create", c.error);
    RunResult r = Run({"volume", "create", "pool1/vol1", "--size", "1G"});
    EXPECT_EQ(r.code, c.code) << c.error;
    EXPECT_EQ(r.err, absl::StrCat("clusterctl: ", c.error.message(), "\n"));
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(ClusterctlCli, NoDaemonExits5) {
  std::ostringstream out, err;
  int code = RunClusterctl({"--socket", "/nonexistent/cvold.sock", "pool", "list"}, out, err);
  EXPECT_EQ(code, 5);
  EXPECT_EQ(err.str(),
            "clusterctl: cvold is not running (no socket at /nonexistent/cvold.sock); start it "
            "with: systemctl start cvold\n");
}

TEST_F(ClusterctlCli, PermissionDeniedOnAcceptExits6) {
  server_.SetGreeting(control::EncodeError(0, absl::PermissionDeniedError(
                                                  "clusterctl must run as root")));
  RunResult r = Run({"pool", "list"});
  EXPECT_EQ(r.code, 6);
  EXPECT_EQ(r.err, "clusterctl: clusterctl must run as root\n");
}

TEST_F(ClusterctlCli, UsageErrorsExit2WithoutContactingTheDaemon) {
  const std::vector<std::vector<std::string>> bad = {
      {"frob"},
      {"volume"},
      {"volume", "frob"},
      {"volume", "create"},
      {"volume", "create", "pool1/vol1"},
      {"volume", "create", "pool1/vol1", "--size"},
      {"volume", "create", "pool1/vol1", "--size", "10X"},
      {"volume", "create", "pool1/vol1", "--size", "0"},
      {"volume", "create", "vol1", "--size", "1G"},
      {"volume", "create", "pool1/-vol", "--size", "1G"},
      {"volume", "create", "pool1/vol1", "extra", "--size", "1G"},
      {"volume", "create", "pool1/vol1", "--size", "1G", "--bogus"},
      {"volume", "create", "pool1/vol1", "--siz", "1G"},  // no abbreviations
      {"volume", "list", "--pool", "bad name"},
      {"volume", "move", "pool1/vol1"},
      {"volume", "move", "pool1/vol1", "--extent", "-1"},
      {"volume", "move", "pool1/vol1", "--extent", "1.5"},
      {"volume", "move", "pool1/vol1", "--extent", "x"},
      {"volume", "move", "pool1/vol1", "--extent", "1", "--count", "0"},
      {"volume", "move", "pool1/vol1", "--extent", "1", "--to-pv", "a b"},
      {"pv", "create", "sdb", "--pool", "p"},
      {"pv", "create", "/dev/sdb"},
      {"pv", "create", "/dev/sdb", "--pool", "p", "--name", ".x"},
      {"pv", "show"},
      {"pv", "show", "bad:name"},
      {"pool", "create", "p", "--extent-size", "1000"},
      {"pool", "create", "p", "--extent-size", "0"},
      {"pool", "create", "p", "--extent-size", "1T"},
      {"pool", "create", "-p"},
      {"pool", "list", "extra"},
      {"status", "extra"},
      {"--timeout", "-1", "status"},
      {"--timeout", "abc", "status"},
      {"--bogus", "status"},
  };
  for (const std::vector<std::string>& args : bad) {
    RunResult r = Run(args);
    std::string line;
    for (const std::string& a : args) line += a + " ";
    EXPECT_EQ(r.code, 2) << line << "\n" << r.err;
    EXPECT_THAT(r.err, StartsWith("clusterctl")) << line;
    EXPECT_EQ(r.out, "") << line;
  }
  EXPECT_EQ(server_.connections(), 0);
}

TEST_F(ClusterctlCli, UsageMessagesSayWhatToDo) {
  RunResult missing = Run({"volume", "create", "pool1/vol1"});
  EXPECT_EQ(missing.err, "clusterctl: missing --size SIZE\n");
  RunResult unknown = Run({"volume", "frob"});
  EXPECT_EQ(unknown.err,
            "clusterctl: unknown volume verb 'frob'; the verbs are create, list, show, resize, "
            "remove, move\nTry 'clusterctl volume --help'.\n");
  RunResult option = Run({"volume", "list", "--bogus"});
  EXPECT_EQ(option.err,
            "clusterctl: unrecognised option '--bogus'\nTry 'clusterctl volume list --help'.\n");
  RunResult positional = Run({"volume", "show"});
  EXPECT_THAT(positional.err,
              HasSubstr("missing volume; usage: clusterctl volume show <pool/vol>"));
  RunResult name = Run({"volume", "show", "pool1"});
  EXPECT_EQ(name.err,
            "clusterctl: volume 'pool1' must be named <pool>/<volume>, as pool1/vol1\n");
}

TEST_F(ClusterctlCli, HelpEverywhere) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"-h"},
                                             {"help"},
                                             {"help", "volume"},
                                             {"help", "volume", "create"},
                                             {"volume", "--help"},
                                             {"volume", "create", "--help"},
                                             {"volume", "create", "-h"},
                                             {"--help", "volume", "create"},
                                             {"status", "--help"},
                                             {"help", "events"},
                                             {"pv", "create", "--help"},
                                             {"pool", "create", "--help"},
                                             {"volume", "move", "--help"}}) {
    RunResult r = Run(args);
    EXPECT_EQ(r.code, 0) << args[0];
    EXPECT_THAT(r.out, StartsWith("Usage: clusterctl")) << args[0];
    EXPECT_EQ(r.err, "");
  }
  EXPECT_THAT(Run({"volume", "create", "--help"}).out,
              HasSubstr("Usage: clusterctl volume create <pool/vol> --size SIZE"));
  EXPECT_THAT(Run({"help", "volume", "create"}).out, HasSubstr("--size SIZE"));
  EXPECT_THAT(Run({"help", "volume"}).out, HasSubstr("clusterctl volume move <pool/vol>"));
  EXPECT_THAT(Run({"volume", "move", "--help"}).out, HasSubstr("--to-pv PV"));
  // Help does not need a valid rest of the line, nor the daemon.
  EXPECT_EQ(Run({"volume", "create", "bad", "--help"}).code, 0);
  EXPECT_EQ(server_.connections(), 0);
}

TEST_F(ClusterctlCli, Version) {
  RunResult r = Run({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "clusterctl 0.1.0 (control protocol 1)\n");
}

TEST_F(ClusterctlCli, NoArgumentsIsUsage) {
  std::ostringstream out, err;
  EXPECT_EQ(RunClusterctl(std::vector<std::string>{}, out, err), 2);
  EXPECT_THAT(err.str(), StartsWith("Usage: clusterctl"));
}

// volume.move with --wait: the daemon streams progress, then the result.
std::vector<std::string> MoveReplies(const Request& r, const char* final_phase) {
  auto moves = [](uint64_t copied, const char* phase) {
    json move = {{"volume", "pool1/vol1"}, {"vext", 5},
                 {"src", {{"pv", "pv1"}, {"pext", 5}}}, {"dst", {{"pv", "pv2"}, {"pext", 0}}},
                 {"phase", phase}, {"copied_regions", copied}, {"regions", 64}};
    if (std::string(phase) == "failed") move["error"] = "write error on pv2";
    return json{{"moves", json::array({move})}};
  };
  return {EncodeProgress(r.id, moves(0, "copying")), EncodeProgress(r.id, moves(16, "copying")),
          EncodeProgress(r.id, moves(16, "copying")),  // still 25%: no new line
          EncodeProgress(r.id, moves(32, "copying")), EncodeProgress(r.id, moves(64, "committing")),
          EncodeOk(r.id, moves(64, final_phase))};
}

TEST_F(ClusterctlCli, MoveWaitPrintsProgressLinesOnAPipe) {
  server_.RespondOk("volume.show", Volume());
  server_.Respond("volume.move", [](const Request& r) { return MoveReplies(r, "done"); });
  RunResult r = Run({"volume", "move", "pool1/vol1", "--extent", "5", "--wait"});
  EXPECT_EQ(r.code, 0) << r.err;
  // Plain lines count regions, not bytes: no volume.show for the extent size.
  Request request = OnlyRequest();
  EXPECT_EQ(request.command, "volume.move");
  EXPECT_EQ(request.args, json({{"volume", "pool1/vol1"}, {"vext", 5}, {"wait", true}}));
  // Plain lines, one per change of the move's state (the repeated 16/64 is
  // not printed again), the final result's "done" included; no bar.
  EXPECT_THAT(r.out, StartsWith("extent 5: copying 0/64\n"
                                "extent 5: copying 16/64\n"
                                "extent 5: copying 32/64\n"
                                "extent 5: committing\n"
                                "extent 5: done\n"
                                "VOLUME"));
  EXPECT_THAT(r.out, HasSubstr("pool1/vol1     5  pv1:5  pv2:0  done"));
  EXPECT_THAT(r.out, EndsWith("\nMoved 1 extent of pool1/vol1\n"));
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
  EXPECT_EQ(r.out.find('#'), std::string::npos);
}

TEST_F(ClusterctlCli, MoveWaitPrintsAFailedMoveOnAPipe) {
  server_.RespondOk("volume.show", Volume());
  server_.Respond("volume.move", [](const Request& r) { return MoveReplies(r, "failed"); });
  RunResult r = Run({"volume", "move", "pool1/vol1", "--extent", "5", "--wait"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("extent 5: committing\n"
                               "extent 5: failed: write error on pv2\n"
                               "VOLUME"));
}

TEST_F(ClusterctlCli, MoveWaitRedrawsOnATerminal) {
  server_.RespondOk("volume.show", Volume());
  server_.Respond("volume.move", [](const Request& r) { return MoveReplies(r, "done"); });
  Environment tty{.out_is_tty = true, .terminal_width = 70};
  RunResult r = Run({"volume", "move", "pool1/vol1", "--extent", "5", "--wait"}, tty);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("\r["));
  // Five progress replies and the final result, each redrawn in place.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\r'), 6);
  EXPECT_EQ(r.out.find("extent 5:"), std::string::npos);
  // One line for the whole bar, then the table.
  size_t first_newline = r.out.find('\n');
  EXPECT_EQ(r.out.rfind('\r', first_newline), r.out.rfind('\r'));
  EXPECT_THAT(r.out.substr(r.out.rfind('\r') + 1, 69), HasSubstr(" 100%"));
}

TEST_F(ClusterctlCli, MoveWaitFailureExits1) {
  server_.RespondOk("volume.show", Volume());
  server_.Respond("volume.move", [](const Request& r) { return MoveReplies(r, "failed"); });
  RunResult r = Run({"volume", "move", "pool1/vol1", "--extent", "5", "--wait"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "clusterctl: move of extent 5 of pool1/vol1 failed: write error on pv2\n");
  RunResult json_run = Run({"--json", "volume", "move", "pool1/vol1", "--extent", "5", "--wait"});
  EXPECT_EQ(json_run.code, 1);
  // --json prints only the final result, no bar.
  EXPECT_EQ(json_run.out.find('['), json_run.out.find("[{"));
  EXPECT_EQ(std::count(json_run.out.begin(), json_run.out.end(), '\n'), 1);
}

TEST_F(ClusterctlCli, MoveWithoutWaitReturnsAtOnce) {
  server_.RespondOk("volume.move", {{"moves", json::array({Move(0, "copying")})}});
  RunResult r = Run({"volume", "move", "pool1/vol1", "--extent", "5"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, StartsWith("Started 1 move of pool1/vol1; follow with: clusterctl status\n"
                                "VOLUME"));
  EXPECT_THAT(r.out, HasSubstr("copying  0/64 (0%)"));
}

TEST_F(ClusterctlCli, EventsStreamUntilTheDaemonCloses) {
  server_.Respond("events", [](const Request& r) {
    return std::vector<std::string>{
        EncodeEvent(r.id, {{"time_ns", 1700000000123456789}, {"type", "move_done"},
                           {"volume", "pool1/vol1"}, {"vext", 5}}),
        EncodeEvent(r.id, {{"time_ns", 1700000001000000000}, {"type", "volume_created"},
                           {"volume", "pool1/v2"}}),
        FakeServer::kClose};
  });
  RunResult human = Run({"events"});
  EXPECT_EQ(human.code, 5);  // the stream only ends when cvold goes away
  EXPECT_EQ(human.out,
            "2023-11-14T22:13:20.123Z move_done pool1/vol1 vext=5\n"
            "2023-11-14T22:13:21.000Z volume_created pool1/v2\n");
  EXPECT_THAT(human.err, HasSubstr("cvold closed the connection"));
  RunResult machine = Run({"events", "--json"});
  EXPECT_EQ(machine.out,
            "{\"time_ns\":1700000000123456789,\"type\":\"move_done\",\"vext\":5,"
            "\"volume\":\"pool1/vol1\"}\n"
            "{\"time_ns\":1700000001000000000,\"type\":\"volume_created\","
            "\"volume\":\"pool1/v2\"}\n");
}

TEST(ClusterctlEvents, FormatOddEvents) {
  EXPECT_EQ(FormatEvent(json::object()), "- -");
  EXPECT_EQ(FormatEvent(json::array()), "- -");
  EXPECT_EQ(FormatEvent({{"type", "x"}, {"detail", {{"a", 1}}}, {"msg", "hi there"}}),
            "- x detail={\"a\":1} msg=hi there");
}

TEST_F(ClusterctlCli, OddlyShapedRepliesDoNotCrash) {
  server_.RespondOk("volume.show", {{"name", 5}, {"runs", "nope"}, {"size_bytes", "big"}});
  server_.RespondOk("pool.list", {{"pools", json::array({1, "x", nullptr})}});
  server_.RespondOk("status", {{"daemon", 3}});
  EXPECT_EQ(Run({"volume", "show", "p/v"}).code, 0);
  EXPECT_EQ(Run({"pool", "list"}).code, 0);
  EXPECT_EQ(Run({"status"}).code, 0);
}

}  // namespace
}  // namespace cvol::clusterctl

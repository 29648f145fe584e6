// cvold's settings: defaults, the config file, the command line over both,
// and the errors for anything it does not understand.
#include "daemon_config.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol::daemon {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::HasSubstr;
using ::testing::Not;

class DaemonConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "cvold_config_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Writes `text` to a file in the temp dir and returns its path.
  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path);
    out << text;
    EXPECT_TRUE(out.good()) << path;
    return path;
  }

  std::string dir_;
};

// Everything but the config file, as the defaults have it.
void ExpectDefaultsBesidesConfigFile(const DaemonConfig& c) {
  const DaemonConfig d;
  EXPECT_EQ(c.etcd_endpoints, d.etcd_endpoints);
  EXPECT_EQ(c.etcd_prefix, d.etcd_prefix);
  EXPECT_EQ(c.etcd_timeout_s, d.etcd_timeout_s);
  EXPECT_EQ(c.socket, d.socket);
  EXPECT_EQ(c.sys_block_dir, d.sys_block_dir);
  EXPECT_EQ(c.dev_dir, d.dev_dir);
  EXPECT_FALSE(c.help);
  EXPECT_EQ(c.help_text, "");
}

TEST(DaemonConfigDefaultsTest, DocumentedDefaults) {
  const DaemonConfig d;
  EXPECT_EQ(d.config_file, "/etc/cvol/cvold.conf");
  EXPECT_EQ(d.etcd_endpoints, "http://127.0.0.1:2379");
  EXPECT_EQ(d.etcd_prefix, "/cvol/");
  EXPECT_EQ(d.etcd_timeout_s, 2.0);
  EXPECT_EQ(d.socket, "/run/cvol/cvold.sock");
  EXPECT_EQ(d.sys_block_dir, "/sys/class/block");
  EXPECT_EQ(d.dev_dir, "/dev");
  EXPECT_FALSE(d.help);
}

// The default config file may be missing. Only checkable where it is.
TEST(DaemonConfigDefaultsTest, MissingDefaultConfigFileIsFine) {
  std::error_code ec;
  if (std::filesystem::exists(DaemonConfig{}.config_file, ec) || ec) {
    GTEST_SKIP() << DaemonConfig{}.config_file << " exists on this host";
  }
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--etcd-insecure"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config_file, DaemonConfig{}.config_file);
  ExpectDefaultsBesidesConfigFile(*c);
}

TEST_F(DaemonConfigTest, EmptyConfigFileGivesTheDefaults) {
  const std::string path = WriteFile("empty.conf", "");
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--config", path, "--etcd-insecure"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config_file, path);
  ExpectDefaultsBesidesConfigFile(*c);
}

TEST_F(DaemonConfigTest, CommandLineSetsEveryOption) {
  const std::string path = WriteFile("empty.conf", "");
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(
      {"--config=" + path, "--etcd-endpoints", "http://a:1,http://b:2", "--etcd-prefix=/x/y/",
       "--etcd-timeout", "0.25", "--socket", "/tmp/s.sock", "--sys-block-dir", "/sb",
       "--dev-dir", "/dd", "--etcd-insecure"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->etcd_endpoints, "http://a:1,http://b:2");
  EXPECT_EQ(c->etcd_prefix, "/x/y/");
  EXPECT_EQ(c->etcd_timeout_s, 0.25);
  EXPECT_EQ(c->socket, "/tmp/s.sock");
  EXPECT_EQ(c->sys_block_dir, "/sb");
  EXPECT_EQ(c->dev_dir, "/dd");
}

TEST_F(DaemonConfigTest, ConfigFileIsRead) {
  const std::string path = WriteFile("cvold.conf",
                                     "# cvold settings\n"
                                     "etcd-endpoints = http://10.0.0.1:2379\n"
                                     "etcd-insecure = true\n"
                                     "etcd-prefix = /cluster7/\n"
                                     "etcd-timeout = 5\n"
                                     "\n"
                                     "socket = /var/run/x.sock\n"
                                     "sys-block-dir = /fake/sys\n"
                                     "dev-dir = /fake/dev\n");
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--config", path});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->etcd_endpoints, "http://10.0.0.1:2379");
  EXPECT_EQ(c->etcd_prefix, "/cluster7/");
  EXPECT_EQ(c->etcd_timeout_s, 5.0);
  EXPECT_EQ(c->socket, "/var/run/x.sock");
  EXPECT_EQ(c->sys_block_dir, "/fake/sys");
  EXPECT_EQ(c->dev_dir, "/fake/dev");
}

TEST_F(DaemonConfigTest, CommandLineOverridesTheConfigFile) {
  const std::string path = WriteFile("cvold.conf",
                                     "etcd-prefix = /from-file/\n"
                                     "socket = /file.sock\n"
                                     "etcd-timeout = 7\n");
  absl::StatusOr<DaemonConfig> c =
      ParseDaemonConfig({"--etcd-prefix", "/from-cmdline/", "--config", path, "--etcd-timeout=1",
                         "--etcd-insecure"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->etcd_prefix, "/from-cmdline/");
  EXPECT_EQ(c->etcd_timeout_s, 1.0);
  // What the command line does not set still comes from the file.
  EXPECT_EQ(c->socket, "/file.sock");
  EXPECT_EQ(c->etcd_endpoints, DaemonConfig{}.etcd_endpoints);
}

TEST_F(DaemonConfigTest, NamedMissingConfigFileIsAnError) {
  const std::string path = dir_ + "/does-not-exist.conf";
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--config", path});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorOf(c), HasSubstr("cannot read config file " + path));
}

TEST_F(DaemonConfigTest, UnknownOptionIsInvalidArgument) {
  const std::string path = WriteFile("empty.conf", "");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--config", path, "--bogus"},
        std::vector<std::string>{"--config", path, "--bogus=1"},
        std::vector<std::string>{"--config", path, "-x"}}) {
    absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(args);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << args.back();
  }
  EXPECT_THAT(ErrorOf(ParseDaemonConfig({"--config", path, "--bogus"})), HasSubstr("bogus"));
}

TEST_F(DaemonConfigTest, UnknownOrMalformedConfigFileLineIsInvalidArgument) {
  const std::string unknown = WriteFile("unknown.conf", "bogus-option = 1\n");
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--config", unknown});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorOf(c), HasSubstr("bogus-option"));

  const std::string malformed = WriteFile("malformed.conf", "etcd-prefix\n");
  EXPECT_EQ(ParseDaemonConfig({"--config", malformed}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Found by tests/fuzz (daemon_config): Boost's error message replaces its
// placeholders until none is left, so a bad value that contains one made
// ParseDaemonConfig loop forever.
TEST_F(DaemonConfigTest, BadValueQuotingAPlaceholderIsInvalidArgument) {
  for (const char* line :
       {"lease-ttl-s = 20%value%\n", "etcd-timeout = %canonical_option%\n",
        "lease-ttl-s = %option%%prefix%%original_token%\n", "%value% = 1\n"}) {
    const std::string path = WriteFile("placeholder.conf", line);
    absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--config", path});
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << line;
  }
  const std::string path = WriteFile("placeholder.conf", "lease-ttl-s = 20%value%\n");
  EXPECT_THAT(ErrorOf(ParseDaemonConfig({"--config", path})), HasSubstr("20%25value%25"));
}

TEST_F(DaemonConfigTest, MissingOptionValueIsInvalidArgument) {
  const std::string path = WriteFile("empty.conf", "");
  EXPECT_EQ(ParseDaemonConfig({"--config", path, "--socket"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DaemonConfigTest, EtcdPrefixMustEndWithASlash) {
  const std::string path = WriteFile("empty.conf", "");
  for (const std::string prefix : {"/cvol", "", "cvol", "/cvol/x"}) {
    absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--config", path, "--etcd-prefix", prefix});
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << "'" << prefix << "'";
    EXPECT_THAT(ErrorOf(c), HasSubstr("--etcd-prefix must end with '/'"));
  }
  // From the config file too.
  const std::string file = WriteFile("prefix.conf", "etcd-prefix = /nope\n");
  EXPECT_EQ(ParseDaemonConfig({"--config", file}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A single "/" is a valid prefix.
  absl::StatusOr<DaemonConfig> root =
      ParseDaemonConfig({"--config", path, "--etcd-prefix", "/", "--etcd-insecure"});
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->etcd_prefix, "/");
}

TEST_F(DaemonConfigTest, EtcdTimeoutMustBePositiveNumber) {
  const std::string path = WriteFile("empty.conf", "");
  for (const std::string timeout : {"0", "-1", "abc", "nan", ""}) {
    absl::StatusOr<DaemonConfig> c =
        ParseDaemonConfig({"--config", path, "--etcd-timeout", timeout});
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << "'" << timeout << "'";
  }
}

TEST_F(DaemonConfigTest, HelpSetsHelpWithText) {
  for (const std::string flag : {"--help", "-h"}) {
    absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({flag});
    ASSERT_TRUE(c.ok()) << flag << ": " << c.status();
    EXPECT_TRUE(c->help) << flag;
    EXPECT_THAT(c->help_text, HasSubstr("usage: cvold"));
    for (const char* option :
         {"--config", "--etcd-endpoints", "--etcd-prefix", "--etcd-timeout", "--socket",
          "--sys-block-dir", "--dev-dir", "--etcd-cacert", "--etcd-cert", "--etcd-key",
          "--etcd-user", "--etcd-password-file", "--etcd-insecure"}) {
      EXPECT_THAT(c->help_text, HasSubstr(option)) << flag;
    }
  }
  // Help wins over a named config file that does not exist.
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--config", dir_ + "/missing", "--help"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->help);
}

// The help says what cluster_agent.cc does with the lease TTL: each renewal
// gives the kernel lease 3/4 of the TTL minus the time the renewal took.
TEST_F(DaemonConfigTest, HelpTellsTheKernelLeaseTheAgentSets) {
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--help"});
  ASSERT_TRUE(c.ok()) << c.status();
  // Boost wraps the descriptions: compare with the whitespace folded.
  std::string text;
  for (char ch : c->help_text) {
    const bool space = ch == ' ' || ch == '\n';
    if (!space || (!text.empty() && text.back() != ' ')) text.push_back(space ? ' ' : ch);
  }
  EXPECT_THAT(text, HasSubstr("kernel lease of every volume to 3/4 of the TTL minus the time "
                              "the renewal took"));
  EXPECT_THAT(text, Not(HasSubstr("half")));
}

TEST_F(DaemonConfigTest, NoHelpWithoutTheFlag) {
  const std::string path = WriteFile("empty.conf", "");
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--config", path, "--etcd-insecure"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->help);
  EXPECT_TRUE(c->help_text.empty());
}


// Cluster mode: --host needs the peer options, wildcards need an address
// peers can dial, and the freeze must outlast the lease.
TEST(DaemonConfigClusterTest, HostWithPeerOptions) {
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(
      {"--config", "/dev/null", "--host", "h1", "--peer-listen", "10.0.0.1:7450",
       "--cluster-secret-file", "/etc/cvol/secret", "--lease-ttl-s", "3", "--instance", "h1",
       "--peer-cacert", "/etc/cvol/ca.crt", "--peer-cert", "/etc/cvol/h1.crt", "--peer-key",
       "/etc/cvol/h1.key", "--etcd-insecure"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->host, "h1");
  EXPECT_EQ(c->peer_address, "10.0.0.1:7450");
  EXPECT_EQ(c->lease_ttl_s, 3);
  EXPECT_EQ(c->instance, "h1");
  EXPECT_EQ(c->recopy_inline_ms, 1500u);
  EXPECT_EQ(c->peer_cacert, "/etc/cvol/ca.crt");
  EXPECT_EQ(c->peer_cert, "/etc/cvol/h1.crt");
  EXPECT_EQ(c->peer_key, "/etc/cvol/h1.key");
}

TEST(DaemonConfigClusterTest, Errors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--host", "h1"}, "needs --peer-listen and --cluster-secret-file"},
      {{"--host", "h1", "--peer-listen", "1.2.3.4:1"}, "needs --peer-listen and"},
      {{"--peer-listen", "1.2.3.4:1"}, "need --host"},
      {{"--host", "a/b", "--peer-listen", "1.2.3.4:1", "--cluster-secret-file", "s"}, "without '/'"},
      {{"--host", "h", "--peer-listen", "0.0.0.0:7450", "--cluster-secret-file", "s"},
       "wildcard"},
      {{"--host", "h", "--peer-listen", "1.2.3.4:1", "--cluster-secret-file", "s",
        "--lease-ttl-s", "1"},
       "--lease-ttl-s must be >= 2"},
      {{"--host", "h", "--peer-listen", "1.2.3.4:1", "--cluster-secret-file", "s",
        "--lease-ttl-s", "20"},
       "at least twice the lease TTL"},
      {{"--host", "h", "--peer-listen", "1.2.3.4:1", "--cluster-secret-file", "s",
        "--recopy-inline-ms", "5000"},
       "below the peer deadline"},
      {{"--host", "h", "--peer-listen", "1.2.3.4:1", "--cluster-secret-file", "s",
        "--peer-cacert", "c", "--peer-cert", "c"},
       "needs --peer-cacert, --peer-cert and --peer-key"},
      {{"--peer-cert", "c"}, "need --host"},
      {{"--instance", "a-b"}, "--instance must be"},
      {{"--instance", "abcdefghijklmnopq"}, "--instance must be"},
  };
  for (const auto& [args, want] : cases) {
    std::vector<std::string> full = {"--config", "/dev/null"};
    full.insert(full.end(), args.begin(), args.end());
    absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(full);
    ASSERT_FALSE(c.ok()) << args.front();
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(c.status().message(), HasSubstr(want)) << args.front();
  }
}

TEST(DaemonConfigClusterTest, WildcardListenWithAddress) {
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(
      {"--config", "/dev/null", "--host", "h1", "--peer-listen", "0.0.0.0:7450",
       "--peer-address", "10.0.0.1:7450", "--cluster-secret-file", "s", "--peer-cacert", "c",
       "--peer-cert", "c", "--peer-key", "k", "--etcd-insecure"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->peer_address, "10.0.0.1:7450");
}

// The host's etcd client certificate is its peer certificate unless the
// --peer-* options say otherwise.
TEST(DaemonConfigClusterTest, PeerCertificatesDefaultToTheEtcdOnes) {
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(
      {"--config", "/dev/null", "--host", "h1", "--peer-listen", "10.0.0.1:7450",
       "--cluster-secret-file", "s", "--etcd-endpoints", "https://10.0.0.9:2379",
       "--etcd-cacert", "/etc/cvol/ca.crt", "--etcd-cert", "/etc/cvol/h1.crt", "--etcd-key",
       "/etc/cvol/h1.key"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->peer_cacert, "/etc/cvol/ca.crt");
  EXPECT_EQ(c->peer_cert, "/etc/cvol/h1.crt");
  EXPECT_EQ(c->peer_key, "/etc/cvol/h1.key");
  c = ParseDaemonConfig({"--config", "/dev/null", "--host", "h1", "--peer-listen",
                         "10.0.0.1:7450", "--cluster-secret-file", "s", "--etcd-endpoints",
                         "https://10.0.0.9:2379", "--etcd-cacert", "/etc/cvol/ca.crt",
                         "--etcd-cert", "/etc/cvol/h1.crt", "--etcd-key", "/etc/cvol/h1.key",
                         "--peer-cacert", "/etc/cvol/peer-ca.crt"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->peer_cacert, "/etc/cvol/peer-ca.crt");
  EXPECT_EQ(c->peer_cert, "/etc/cvol/h1.crt");
}

// etcd security (etcd_client_settings.h): plain http only when asked for,
// https with the CA, and the options that go together.
TEST(DaemonConfigEtcdTest, PlainHttpNeedsEtcdInsecureAndSaysBothWaysOut) {
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--config", "/dev/null"});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorOf(c), HasSubstr("plain http"));
  EXPECT_THAT(ErrorOf(c), HasSubstr("--etcd-insecure"));
  EXPECT_THAT(ErrorOf(c), HasSubstr("--etcd-cacert"));
  c = ParseDaemonConfig({"--config", "/dev/null", "--etcd-insecure"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->etcd_security.insecure);
}

TEST(DaemonConfigEtcdTest, TlsAndAuthOptions) {
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(
      {"--config", "/dev/null", "--etcd-endpoints", "https://10.0.0.1:2379,https://e2:2379",
       "--etcd-cacert", "/etc/cvol/ca.crt", "--etcd-cert", "/etc/cvol/h.crt", "--etcd-key",
       "/etc/cvol/h.key", "--etcd-user", "u", "--etcd-password-file", "/etc/cvol/pw"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->etcd_security.cacert, "/etc/cvol/ca.crt");
  EXPECT_EQ(c->etcd_security.cert, "/etc/cvol/h.crt");
  EXPECT_EQ(c->etcd_security.key, "/etc/cvol/h.key");
  EXPECT_EQ(c->etcd_security.user, "u");
  EXPECT_EQ(c->etcd_security.password_file, "/etc/cvol/pw");
  EXPECT_FALSE(c->etcd_security.insecure);
  store::EtcdKvStoreOptions o;
  ApplyEtcdClientSettings(c->etcd_security, &o);
  EXPECT_EQ(o.ca_file, "/etc/cvol/ca.crt");
  EXPECT_EQ(o.key_file, "/etc/cvol/h.key");
  EXPECT_EQ(o.password_file, "/etc/cvol/pw");
  EXPECT_FALSE(o.allow_insecure);
}

TEST(DaemonConfigEtcdTest, ClusterModeUserDefaultsToCvolHost) {
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(
      {"--config", "/dev/null", "--host", "h7", "--peer-listen", "10.0.0.7:7450",
       "--cluster-secret-file", "s", "--etcd-endpoints", "https://e:2379", "--etcd-cacert",
       "ca", "--etcd-cert", "h7.crt", "--etcd-key", "h7.key", "--etcd-password-file", "pw"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->etcd_security.user, "cvol-h7");
}

TEST_F(DaemonConfigTest, EtcdOptionsFromTheConfigFile) {
  const std::string path = WriteFile("tls.conf",
                                     "etcd-endpoints = https://10.0.0.1:2379\n"
                                     "etcd-cacert = /c/ca.crt\n"
                                     "etcd-cert = /c/h.crt\n"
                                     "etcd-key = /c/h.key\n"
                                     "etcd-user = cvol-h\n"
                                     "etcd-password-file = /c/pw\n");
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig({"--config", path});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->etcd_security.cacert, "/c/ca.crt");
  EXPECT_EQ(c->etcd_security.user, "cvol-h");
  EXPECT_EQ(c->etcd_security.password_file, "/c/pw");
}

TEST(DaemonConfigEtcdTest, Errors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--etcd-endpoints", "https://a:1"}, "need --etcd-cacert"},
      {{"--etcd-endpoints", "https://a:1,http://b:2", "--etcd-cacert", "ca"}, "mixes"},
      {{"--etcd-insecure", "--etcd-cacert", "ca"}, "need https://"},
      {{"--etcd-endpoints", "https://a:1", "--etcd-cacert", "ca", "--etcd-cert", "c"},
       "go together"},
      {{"--etcd-endpoints", "https://a:1", "--etcd-cacert", "ca", "--etcd-password-file", "p"},
       "--etcd-password-file needs --etcd-user"},
      {{"--etcd-endpoints", "https://a:1", "--etcd-cacert", "ca", "--etcd-user", "u"},
       "--etcd-user needs --etcd-password-file"},
  };
  for (const auto& [args, want] : cases) {
    std::vector<std::string> full = {"--config", "/dev/null"};
    full.insert(full.end(), args.begin(), args.end());
    absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(full);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << want;
    EXPECT_THAT(ErrorOf(c), HasSubstr(want));
  }
}

}  // namespace
}  // namespace cvol::daemon

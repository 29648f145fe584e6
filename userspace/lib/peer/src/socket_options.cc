#include "socket_options.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace cvol::peer {
namespace {

void SetInt(int fd, int level, int name, int value) {
  (void)setsockopt(fd, level, name, &value, sizeof(value));
}

}  // namespace

void TunePeerSocket(int fd) {
  SetInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  SetInt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  SetInt(fd, IPPROTO_TCP, TCP_KEEPIDLE, 60);
  SetInt(fd, IPPROTO_TCP, TCP_KEEPINTVL, 10);
  SetInt(fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
}

}  // namespace cvol::peer

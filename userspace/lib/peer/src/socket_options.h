// Socket settings both ends of a peer connection want.
#ifndef CVOL_PEER_SRC_SOCKET_OPTIONS_H_
#define CVOL_PEER_SRC_SOCKET_OPTIONS_H_

namespace cvol::peer {

// TCP_NODELAY: requests and replies are small single writes, and Nagle plus
// delayed ACK would add tens of milliseconds to each exchange.
// Keepalive after 60 s idle, 3 probes 10 s apart: a connection whose peer
// host died (no FIN, no RST) is reaped in about 90 s instead of lingering
// for hours, on the server, and in the client's cache.
// Best effort: failures are ignored.
void TunePeerSocket(int fd);

}  // namespace cvol::peer

#endif  // CVOL_PEER_SRC_SOCKET_OPTIONS_H_

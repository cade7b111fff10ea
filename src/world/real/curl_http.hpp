// HTTP and HTTPS GETs with libcurl, for the real network's http_get (SocketNetwork).
#pragma once
#include <string>

#include "world/world.hpp"

namespace drctl::world::real {

/// One HTTP/1.1 GET of an http(s)://host[:port]/path URL, the contract of Network::http_get:
/// - `host_header`, when not empty, is the name asked for (Host header and, for https, SNI)
///   while the connection goes to the URL's address (libcurl's CONNECT_TO, as `curl
///   --connect-to` does); without it the URL's own host is both.
/// - Redirects are reported (status and `location` header), not followed.
/// - https: the handshake does not fail on the certificate; the response carries its DNS names
///   and whether its chain verifies against the system's CAs, and the caller judges.
/// - Bounded by `timeout` (zero: no limit) and ended early, as a failure, when `cancel` is
///   requested. Bodies larger than 64 MiB and heads larger than 64 KiB are failures.
/// Failures come back as status 0 with `error` ("URL: why"), never as exceptions.
HttpResponse curl_http_get(const std::string& url, const std::string& host_header, Duration timeout, const Cancel& cancel);

}  // namespace drctl::world::real

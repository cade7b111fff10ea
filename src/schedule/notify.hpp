// The ping a scheduled run sends when it ends, the way healthchecks.io, ntfy and Gotify are
// called: one HTTP POST whose body is one line saying what happened.
#pragma once
#include <string>

namespace drctl::schedule {

/// POSTs `message` (text/plain) to `url`: http:// or https:// (the system's CAs), 15 s at most,
/// one retry after a failure to connect. Returns "" when the server answered 2xx, else why not —
/// naming the URL's host only, never its path or query (they often hold a token).
std::string notify(const std::string& url, const std::string& message);

/// The URL with its path and query left out ("https://hc-ping.com/…"), for messages.
std::string url_for_messages(const std::string& url);

}  // namespace drctl::schedule

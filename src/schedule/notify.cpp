#include "schedule/notify.hpp"

#include <curl/curl.h>

#include <thread>

namespace drctl::schedule {

std::string url_for_messages(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return "(not a URL)";
  const auto path = url.find_first_of("/?#", scheme + 3);
  return url.substr(0, path) + (path == std::string::npos ? "" : "/…");
}

std::string notify(const std::string& url, const std::string& message) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) return "--notify: " + url_for_messages(url) + " is not http(s)://";
  std::string why;
  for (int attempt = 0; attempt < 2; ++attempt) {
    CURL* curl = curl_easy_init();
    if (!curl) return "cannot start libcurl";
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: text/plain; charset=utf-8");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, message.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(message.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "drctl");
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc == CURLE_OK && status >= 200 && status < 300) return "";
    why = rc != CURLE_OK ? std::string(curl_easy_strerror(rc)) : "HTTP " + std::to_string(status);
    if (rc != CURLE_COULDNT_CONNECT) break;  // only a refused connection is worth one more try
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  return "notifying " + url_for_messages(url) + " failed: " + why;
}

}  // namespace drctl::schedule

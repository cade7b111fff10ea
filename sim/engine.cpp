#include "sim/engine.hpp"

#include <algorithm>
#include <stdexcept>

namespace drctl::sim {

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(std::uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

std::uint64_t Rng::next() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Rng::range(std::uint64_t lo, std::uint64_t hi) {
  if (hi <= lo) return lo;
  const std::uint64_t span = hi - lo + 1;
  if (span == 0) return next();  // the whole 64-bit range
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % span;  // reject the biased tail
  std::uint64_t v;
  do v = next();
  while (v >= limit);
  return lo + v % span;
}

Duration Rng::between(Duration lo, Duration hi) {
  return Duration(static_cast<std::int64_t>(
      range(static_cast<std::uint64_t>(lo.count()), static_cast<std::uint64_t>(std::max(lo, hi).count()))));
}

/// An actor's thread and whether it holds the turn.
struct Engine::Actor {
  std::string name;
  std::function<void()> body;
  std::thread thread;
  std::condition_variable cv;
  bool has_turn = false;
  bool done = false;
};

namespace {
thread_local const void* t_engine = nullptr;
thread_local void* t_actor = nullptr;
}  // namespace

Engine::Engine(std::uint64_t seed) : rng_(seed) {}

Engine::~Engine() {
  // Actors left parked (after run_for, or a run that threw) are unwound before joining.
  std::unique_lock lock(mutex_);
  aborting_ = true;
  for (auto& a : actors_)
    if (!a->done && a->thread.joinable()) give_turn(lock, a.get());
  lock.unlock();
  for (auto& a : actors_)
    if (a->thread.joinable()) a->thread.join();
}

void Engine::log(const std::string& component, const std::string& event, const json& details) {
  json e = {{"t", now_.count()}, {"component", component}, {"event", event}};
  for (auto it = details.begin(); it != details.end(); ++it) e[it.key()] = it.value();
  {
    std::lock_guard lock(mutex_);
    events_.push_back(e);
  }
  for (const auto& fn : observers_) fn(e);  // one actor or callback runs at a time: no lock needed
}

std::string Engine::log_jsonl() const {
  std::lock_guard lock(mutex_);
  std::string out;
  // A runbook's commands are logged as given, and need not be UTF-8: the log stays JSON.
  for (const auto& e : events_) out += e.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return out;
}

bool Engine::in_actor() const { return t_engine == this && t_actor != nullptr; }

void Engine::spawn(std::string name, std::function<void()> body) {
  std::unique_lock lock(mutex_);
  actors_.push_back(std::make_unique<Actor>());
  Actor* a = actors_.back().get();
  a->name = std::move(name);
  a->body = std::move(body);
  runnable_.push_back(a);
  a->thread = std::thread([this, a] {
    t_engine = this;
    t_actor = a;
    std::unique_lock l(mutex_);
    a->cv.wait(l, [a] { return a->has_turn; });
    l.unlock();
    try {
      if (!aborting_) a->body();
    } catch (const Aborted&) {
      // the simulation is being torn down after another actor failed
    } catch (...) {
      std::lock_guard g(mutex_);
      if (!failure_) failure_ = std::current_exception();
    }
    l.lock();
    a->done = true;
    a->has_turn = false;
    current_ = nullptr;
    driver_cv_.notify_all();
  });
}

void Engine::sleep(Duration d) {
  Actor* a = self();
  std::unique_lock lock(mutex_);
  const std::uint64_t seq = seq_++;
  const Duration when = now_ + std::max(d, Duration(0));
  due_.emplace(std::pair(when, seq), Due{when, seq, a, nullptr});
  ++foreground_due_;
  yield_turn(lock, a);
}

Engine::Actor* Engine::self() const {
  if (!in_actor()) throw std::logic_error("sim: a wait outside an actor");
  return static_cast<Actor*>(t_actor);
}

void Engine::wait_signal() {
  Actor* a = self();
  std::unique_lock lock(mutex_);
  signalled_.push_back(a);
  yield_turn(lock, a);
}

void Engine::signal() {
  std::lock_guard lock(mutex_);
  for (Actor* a : signalled_) runnable_.push_back(a);
  signalled_.clear();
}

void Engine::at(Duration when, std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  const std::uint64_t seq = seq_++;
  when = std::max(when, now_);
  due_.emplace(std::pair(when, seq), Due{when, seq, nullptr, std::move(fn)});
  ++foreground_due_;
}

void Engine::background(Duration when, std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  const std::uint64_t seq = seq_++;
  when = std::max(when, now_);
  due_.emplace(std::pair(when, seq), Due{when, seq, nullptr, std::move(fn), true});
}

bool Engine::only_background_left() const {
  if (foreground_due_ > 0) return false;
  // Alive actors all waiting for a signal: only a background event could wake them, and
  // modelled components do not signal — that is the deadlock run() reports.
  for (const auto& a : actors_)
    if (!a->done && std::find(signalled_.begin(), signalled_.end(), a.get()) == signalled_.end()) return false;
  return true;
}

void Engine::yield_turn(std::unique_lock<std::mutex>& lock, Actor* a) {
  a->has_turn = false;
  current_ = nullptr;
  driver_cv_.notify_all();
  a->cv.wait(lock, [a] { return a->has_turn; });
  if (aborting_) throw Aborted();
}

void Engine::give_turn(std::unique_lock<std::mutex>& lock, Actor* a) {
  current_ = a;
  a->has_turn = true;
  a->cv.notify_all();
  driver_cv_.wait(lock, [this] { return current_ == nullptr; });
}

void Engine::drive(std::unique_lock<std::mutex>& lock, Duration until) {
  while (true) {
    if (failure_) break;
    if (!runnable_.empty()) {
      Actor* a = runnable_.front();
      runnable_.pop_front();
      give_turn(lock, a);
      continue;
    }
    if (due_.empty()) break;
    if (until < Duration::zero() && only_background_left()) break;
    auto it = due_.begin();
    if (until >= Duration::zero() && it->second.time > until) break;
    Due due = std::move(it->second);
    due_.erase(it);
    if (!due.background) --foreground_due_;
    now_ = due.time;
    if (due.actor) {
      runnable_.push_back(due.actor);
    } else {
      lock.unlock();  // no actor runs now: the callback has the simulation to itself
      try {
        due.fn();
      } catch (...) {
        lock.lock();
        if (!failure_) failure_ = std::current_exception();
        continue;
      }
      lock.lock();
    }
  }
}

void Engine::run() {
  std::unique_lock lock(mutex_);
  drive(lock, Duration(-1));
  finish(lock);
}

void Engine::run_for(Duration d) {
  std::unique_lock lock(mutex_);
  const Duration until = now_ + d;
  drive(lock, until);
  if (!failure_) now_ = until;
  if (failure_) finish(lock);
}

void Engine::finish(std::unique_lock<std::mutex>& lock) {
  if (!failure_) {
    std::string stuck;
    for (auto& a : actors_)
      if (!a->done) stuck += " " + a->name;
    if (!stuck.empty())
      failure_ = std::make_exception_ptr(std::runtime_error("sim: these wait for a signal that can never come:" + stuck));
  }
  if (failure_) {
    // Unwind every actor still parked: its wait throws Aborted, which ends its thread.
    aborting_ = true;
    for (auto& a : actors_)
      if (!a->done) give_turn(lock, a.get());
  }
  lock.unlock();
  for (auto& a : actors_)
    if (a->thread.joinable()) a->thread.join();
  if (failure_) std::rethrow_exception(failure_);
}

}  // namespace drctl::sim

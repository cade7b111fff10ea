#include "sim/engine.hpp"

#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cxxabi.h>
#include <stdexcept>
#include <utility>

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

namespace {
/// libstdc++'s per-thread exception state (`__cxa_eh_globals` in libsupc++'s unwind-cxx.h): the
/// exceptions being handled and the count of those thrown and not yet caught.
struct EhGlobals {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
};
}  // namespace

/// Where a fiber stopped: its registers (ucontext) and the C++ runtime's per-thread exception
/// state, which belongs to the fiber (an actor may wait inside a catch block while another
/// throws and catches).
struct Engine::Context {
  ucontext_t uc{};
  EhGlobals eh{};
};

/// An actor: its fiber's stack and context, and whether it has finished.
struct Engine::Actor {
  std::string name;
  std::function<void()> body;
  Context ctx;
  void* stack = nullptr;
  bool done = false;
};

namespace {

thread_local Engine* t_engine = nullptr;
thread_local void* t_actor = nullptr;

// An actor's stack: as large as a thread's (drctl's own code runs there: parsers, archives),
// committed only as it is touched, with a guard page below it.
constexpr std::size_t kStackSize = 8u << 20;
constexpr std::size_t kGuard = 64u << 10;

void* map_stack() {
  void* p = mmap(nullptr, kStackSize + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                 -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("sim: no memory for an actor's stack: ") + std::strerror(errno));
  mprotect(p, kGuard, PROT_NONE);
  return p;
}

void unmap_stack(void* p) {
  if (p) munmap(p, kStackSize + kGuard);
}

/// Switches from `from` to `to`, carrying each side's exception state and the engine/actor
/// the thread is running.
void switch_context(EhGlobals& from_eh, ucontext_t& from, const EhGlobals& to_eh, const ucontext_t& to) {
  auto* globals = abi::__cxa_get_globals();
  std::memcpy(static_cast<void*>(&from_eh), globals, sizeof(EhGlobals));
  std::memcpy(globals, &to_eh, sizeof(EhGlobals));
  swapcontext(&from, &to);
}

}  // namespace

Engine::Engine(std::uint64_t seed) : rng_(seed), driver_(std::make_unique<Context>()) {}

Engine::~Engine() {
  shutdown();
  for (auto& a : actors_) unmap_stack(a->stack);
}

void Engine::shutdown() {
  // Actors left parked (after run_for, or a run that threw) are unwound: each wait throws Aborted.
  // By index: an actor unwinding may spawn another.
  aborting_ = true;
  for (std::size_t i = 0; i < actors_.size(); ++i)
    if (!actors_[i]->done) give_turn(actors_[i].get());
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

void Engine::actor_main() {
  Engine* e = t_engine;
  Actor* a = static_cast<Actor*>(t_actor);
  try {
    if (!e->aborting_) a->body();
  } catch (const Aborted&) {
    // the simulation is being torn down after another actor failed
  } catch (...) {
    std::lock_guard g(e->mutex_);
    if (!e->failure_) e->failure_ = std::current_exception();
  }
  a->done = true;
  a->body = nullptr;
  // Back to the driver through switch_context, which gives the thread back the driver's exception
  // state (returning through uc_link would leave this fiber's). The fiber is never resumed.
  switch_context(a->ctx.eh, a->ctx.uc, e->driver_->eh, e->driver_->uc);
}

void Engine::spawn(std::string name, std::function<void()> body) {
  auto actor = std::make_unique<Actor>();
  Actor* a = actor.get();
  a->name = std::move(name);
  a->body = std::move(body);
  a->stack = map_stack();
  getcontext(&a->ctx.uc);
  a->ctx.uc.uc_stack.ss_sp = static_cast<char*>(a->stack) + kGuard;
  a->ctx.uc.uc_stack.ss_size = kStackSize;
  a->ctx.uc.uc_link = &driver_->uc;
  makecontext(&a->ctx.uc, &Engine::actor_main, 0);
  std::lock_guard lock(mutex_);
  actors_.push_back(std::move(actor));
  runnable_.push_back(a);
}

void Engine::sleep(Duration d) {
  Actor* a = self();
  {
    std::lock_guard lock(mutex_);
    const std::uint64_t seq = seq_++;
    const Duration when = now_ + std::max(d, Duration(0));
    due_.emplace(std::pair(when, seq), Due{when, seq, a, nullptr});
    ++foreground_due_;
  }
  yield_turn(a);
}

Engine::Actor* Engine::self() const {
  if (!in_actor()) throw std::logic_error("sim: a wait outside an actor");
  return static_cast<Actor*>(t_actor);
}

void Engine::wait_signal() {
  Actor* a = self();
  {
    std::lock_guard lock(mutex_);
    signalled_.push_back(a);
  }
  yield_turn(a);
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

void Engine::yield_turn(Actor* a) {
  if (aborting_) throw Aborted();  // a wait while the simulation is torn down (an actor that caught Aborted)
  switch_context(a->ctx.eh, a->ctx.uc, driver_->eh, driver_->uc);
  if (aborting_) throw Aborted();
}

void Engine::give_turn(Actor* a) {
  // The thread may be driving another engine already (an engine run inside an actor).
  Engine* const outer_engine = t_engine;
  void* const outer_actor = t_actor;
  t_engine = this;
  t_actor = a;
  current_ = a;
  switch_context(driver_->eh, driver_->uc, a->ctx.eh, a->ctx.uc);
  current_ = nullptr;
  t_engine = outer_engine;
  t_actor = outer_actor;
  if (a->done) unmap_stack(std::exchange(a->stack, nullptr));  // back on the driver's stack: the actor's can go
}

void Engine::drive(Duration until) {
  std::unique_lock lock(mutex_);
  while (true) {
    if (failure_) break;
    if (!runnable_.empty()) {
      Actor* a = runnable_.front();
      runnable_.pop_front();
      lock.unlock();
      give_turn(a);
      lock.lock();
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
  drive(Duration(-1));
  finish();
}

void Engine::run_for(Duration d) {
  const Duration until = now_ + d;
  drive(until);
  if (!failure_) now_ = until;
  if (failure_) finish();
}

void Engine::finish() {
  if (!failure_) {
    std::string stuck;
    for (auto& a : actors_)
      if (!a->done) stuck += " " + a->name;
    if (!stuck.empty())
      failure_ = std::make_exception_ptr(std::runtime_error("sim: these wait for a signal that can never come:" + stuck));
  }
  if (failure_) {
    shutdown();  // every actor still parked is unwound: its wait throws Aborted, which ends its fiber
    std::rethrow_exception(failure_);
  }
}

}  // namespace drctl::sim

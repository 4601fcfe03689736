// Imported first by the service's entry (server.ts), before any other module is evaluated.
//
// Every `process.nextTick` builds its queue entry as an object literal whose first two keys are
// computed (symbols): `{ [async_id_symbol]: …, [trigger_async_id_symbol]: …, callback, args }` in
// Node's lib/internal/process/task_queues.js. V8 defines the properties that follow a computed key
// through feedback slots with two states only: monomorphic (one hidden class seen) or megamorphic.
// The hidden classes the entry passes through are held only weakly, by those slots and by each
// other: a full garbage collection at a moment when no entry is alive frees them, the next entry
// gets new ones, and the slots, seeing other classes, turn megamorphic for the life of the process.
// From then on every nextTick defines its entry's properties in V8's runtime, in C++, class
// transitions and all. A small server never collects its old generation and never pays this; the
// service did, from its start-up on. Node's HTTP and stream code calls nextTick about ten times a
// request: measured with perf on GET /next-tracking-number, that runtime path took 9 % of the main
// thread's CPU (docs/benchmarks.md).
//
// Keeping one entry alive for the life of the process keeps its hidden classes alive, so the slots
// stay monomorphic and compiled code builds entries inline. The entry is the async resource of its
// own callback (executionAsyncResource): no async hook is enabled for it, which would have switched
// off, for good, V8's fast paths for promises (its PromiseHook protector). Until the callback runs,
// the queue holds the entry.
import { executionAsyncResource } from 'node:async_hooks'

let entry: object | undefined
function keep(): void {
  const resource = executionAsyncResource()
  // An entry has the callback it was queued with; anything else (Node changed) is not kept.
  if ((resource as { callback?: unknown }).callback === keep) entry = resource
}
process.nextTick(keep)

/** The nextTick queue entry kept alive, once its callback has run (undefined if Node changed). */
export function keptTickEntry(): object | undefined {
  return entry
}

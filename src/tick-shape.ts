// Imported first by the service's entry (server.ts), before any other module is loaded.
//
// Every `process.nextTick` builds its queue entry as an object literal with two symbol keys
// (Node's lib/internal/process/task_queues.js). V8 defines such keys through a feedback slot that
// has two states only: monomorphic (one hidden class seen) or megamorphic. The hidden classes the
// entry passes through are held only weakly, by the slot and by each other: a full garbage
// collection at a moment when no entry is alive frees them, the next entry gets new ones, and the
// slot, seeing another class, turns megamorphic for the life of the process. From then on every
// nextTick defines its entry's properties in V8's runtime, in C++, class transitions and all. A
// small server never collects its old generation and never pays this; the service does, already
// while it loads its modules. Node's HTTP and stream code calls nextTick about ten times a request:
// measured with perf on GET /next-tracking-number, that runtime path took 9 % of the main thread's
// CPU (docs/benchmarks.md).
//
// Keeping one entry alive for the life of the process keeps its hidden classes alive, so the slot
// stays monomorphic and compiled code builds entries inline. The entry is taken from the one
// public place it shows, an async hook's `init`, enabled only for this one call.
import { createHook } from 'node:async_hooks'

let entry: object | undefined
const hook = createHook({
  init(_asyncId, type, _triggerAsyncId, resource) {
    if (type === 'TickObject') entry ??= resource
  },
})
hook.enable()
process.nextTick(() => {})
hook.disable()

/** The nextTick queue entry kept alive (undefined only if Node stopped building them so). */
export const keptTickEntry: object | undefined = entry

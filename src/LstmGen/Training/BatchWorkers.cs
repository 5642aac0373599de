using System;
using System.ComponentModel;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace LstmGen.Training;

/// <summary>
/// The part of a mini-batch step that runs on every core: a generated trainer cuts its batch into chunks whose number
/// depends only on the batch size (never on the thread count), and each chunk sums its own gradients. Which thread runs
/// which chunk does not change a single bit of the result; the trainer adds the chunks' sums in chunk order afterwards.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IBatchChunks
{
    /// <summary>Runs chunk <paramref name="chunk"/> on worker <paramref name="worker"/> (0 is the calling thread; each worker has its own buffers).</summary>
    void RunChunk(int chunk, int worker, ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets);
}

/// <summary>
/// Worker threads for a trainer's mini-batch steps, created at the first step that can use them and kept parked
/// between steps: a step allocates nothing and starts no thread. The calling thread is worker 0 and takes chunks too.
/// The threads end when the trainer that owns this object is collected (or <see cref="Dispose"/> is called).
/// Generated trainers use it; not meant to be called directly.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class BatchWorkers : IDisposable
{
    /// <summary>The threads a trainer uses when the caller does not say: every processor, at most 8.</summary>
    public static int DefaultThreads => Math.Clamp(Environment.ProcessorCount, 1, 8);

    /// <summary>
    /// How many chunks a batch of <paramref name="batch"/> sequences is cut into. It depends on the batch size alone, so
    /// the sums (and the bits) do not depend on the threads. A chunk holds about <paramref name="groupSize"/> sequences,
    /// which one worker runs side by side; there are at least two chunks from two sequences up, so two threads share even
    /// a small batch, an even number where the sequences allow it, so two threads get equal shares, and at most
    /// <paramref name="maxChunks"/>.
    /// </summary>
    public static int ChunkCount(int batch, int groupSize, int maxChunks)
    {
        if (batch <= 1) return 1;
        int chunks = Math.Max(2, (batch + groupSize - 1) / groupSize);
        if (chunks % 2 == 1 && chunks < batch) chunks++;
        return Math.Min(chunks, Math.Min(maxChunks, batch));
    }

    private static long s_workerAllocated;

    /// <summary>
    /// Bytes allocated by the worker threads (not the calling thread) while running chunks, summed over every trainer of
    /// the process since it started: what an allocation test reads before and after some steps.
    /// </summary>
    public static long WorkerAllocatedBytes => Interlocked.Read(ref s_workerAllocated);

    // The threads reference only this inner object, never the owner, so an abandoned trainer can be collected; its
    // BatchWorkers' finalizer then stops them.
    private readonly Shared _shared;

    /// <param name="threads">Threads in all, the caller's included (1: everything runs on the calling thread).</param>
    public BatchWorkers(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be at least 1.");
        Threads = threads;
        _shared = new Shared(threads - 1);
    }

    /// <summary>Threads in all, the caller's included.</summary>
    public int Threads { get; }

    /// <summary>
    /// Runs chunks 0 … <paramref name="chunks"/> − 1 of <paramref name="job"/> on up to <see cref="Threads"/> threads and
    /// returns when all have finished. An exception thrown by a chunk is rethrown here (the first one).
    /// </summary>
    public unsafe void Run(IBatchChunks job, int chunks, ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets)
    {
        ArgumentNullException.ThrowIfNull(job);
        int helpers = Math.Min(Threads - 1, chunks - 1);
        if (helpers <= 0)
        {
            for (int k = 0; k < chunks; k++) job.RunChunk(k, 0, inputs, targets);
            return;
        }
        fixed (float* x = inputs, y = targets)
        {
            _shared.Run(job, chunks, helpers, x, inputs.Length, y, targets.Length);
        }
    }

    /// <summary>Stops the worker threads (they are started again if the trainer is used after this).</summary>
    public void Dispose()
    {
        _shared.Stop();
        GC.SuppressFinalize(this);
    }

    /// <summary>Stops the worker threads of a trainer nobody references any more.</summary>
    ~BatchWorkers() => _shared.Stop();

    /// <summary>
    /// A wake-up signal that allocates nothing after its construction (ManualResetEventSlim creates its lock object at
    /// the first wait that blocks, which can be any step): spins briefly, then sleeps on a monitor.
    /// </summary>
    private sealed class Signal
    {
        private const int SpinIterations = 2000, SpinBatch = 20;
        private readonly object _lock = new();
        private volatile bool _set;

        public void Set()
        {
            lock (_lock)
            {
                _set = true;
                Monitor.Pulse(_lock);
            }
        }

        public void WaitAndReset()
        {
            // Spin for a while first: between two steps of a training loop the caller adds the chunks' sums and updates the
            // weights (tens of µs), and waking a thread that went to sleep costs about as much again.
            for (int k = 0; k < SpinIterations && !_set; k++) Thread.SpinWait(SpinBatch);
            lock (_lock)
            {
                while (!_set) Monitor.Wait(_lock);
                _set = false;
            }
        }
    }

    private sealed unsafe class Shared
    {
        private readonly int _capacity;
        private Crew? _crew;
        private readonly Signal _done = new();

        // the job of the current Run; cleared afterwards so the workers do not keep the trainer alive
        private IBatchChunks? _job;
        private int _chunks, _threads, _pending;
        private float* _x, _y;
        private int _xLength, _yLength;
        private ExceptionDispatchInfo? _error;

        public Shared(int capacity) => _capacity = capacity;

        /// <summary>One set of started threads with their wake-up events; a stopped crew is never restarted.</summary>
        private sealed class Crew
        {
            public readonly Signal[] Start;
            public volatile bool Stopped;

            public Crew(int count)
            {
                Start = new Signal[count];
                for (int w = 0; w < count; w++) Start[w] = new Signal();
            }
        }

        public void Run(IBatchChunks job, int chunks, int helpers, float* x, int xLength, float* y, int yLength)
        {
            lock (this)
            {
                var crew = _crew ??= StartCrew();
                _job = job; _chunks = chunks; _threads = helpers + 1; _pending = helpers; _error = null;
                _x = x; _xLength = xLength; _y = y; _yLength = yLength;
                for (int w = 0; w < helpers; w++) crew.Start[w].Set();
                Drain(0);
                _done.WaitAndReset();
                _job = null; _x = null; _y = null;
                _error?.Throw();
            }
        }

        private Crew StartCrew()
        {
            var crew = new Crew(_capacity);
            for (int w = 0; w < _capacity; w++)
            {
                int worker = w + 1;
                new Thread(() => Loop(crew, worker)) { IsBackground = true, Name = $"LstmGen trainer worker {worker}" }.Start();
            }
            return crew;
        }

        private void Loop(Crew crew, int worker)
        {
            var start = crew.Start[worker - 1];
            while (true)
            {
                start.WaitAndReset();
                if (crew.Stopped) return;
                long before = GC.GetAllocatedBytesForCurrentThread();
                Drain(worker);
                Interlocked.Add(ref s_workerAllocated, GC.GetAllocatedBytesForCurrentThread() - before);
                if (Interlocked.Decrement(ref _pending) == 0) _done.Set();
            }
        }

        /// <summary>
        /// Runs chunks worker, worker + threads, …: the chunks of a batch cost the same, so a fixed share keeps the threads
        /// even (taking chunks as they come let the first thread take one more while the others woke). Chunks are
        /// independent: which thread runs one changes nothing.
        /// </summary>
        private void Drain(int worker)
        {
            var x = new ReadOnlySpan<float>(_x, _xLength);
            var y = new ReadOnlySpan<float>(_y, _yLength);
            var job = _job!;
            for (int k = worker; k < _chunks; k += _threads)
            {
                try
                {
                    job.RunChunk(k, worker, x, y);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
                }
            }
        }

        public void Stop()
        {
            lock (this)
            {
                var crew = _crew;
                if (crew == null) return;
                _crew = null;
                crew.Stopped = true;
                foreach (var start in crew.Start) start.Set();
            }
        }
    }
}

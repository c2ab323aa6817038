using System.Diagnostics;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Scheduling;
using Stratum.Scheduling.Placement;

namespace Stratum.Simulation;

/// <summary>Settings of one replay.</summary>
public sealed record SimulationOptions
{
    /// <summary>Time a job loses each time it resumes after a preemption (reload, warm-up), holding its GPUs. Default zero.</summary>
    public TimeSpan RestartCost { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// Passes at one instant before time moves on. A pass that preempts is followed by another at the
    /// same instant so the freed GPUs are used; a policy that preempts on every pass would otherwise
    /// never let time advance. Default 16.
    /// </summary>
    public int MaxPassesPerInstant { get; init; } = 16;
}

/// <summary>How one trace job fared.</summary>
public sealed record JobOutcome(
    long Id,
    string Project,
    int Gpus,
    DateTimeOffset SubmittedAt,
    DateTimeOffset? FirstStartedAt,
    DateTimeOffset? FinishedAt,
    TimeSpan HeldTime,
    int Preemptions)
{
    /// <summary>Replicas of the job on the cluster (several when it spans nodes).</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>GPUs each replica holds; times <see cref="HeldTime"/> it is the GPU-time used.</summary>
    public int GpusPerReplica { get; init; }
}

/// <summary>
/// Everything a replay produced: the summary, each job's outcome, and the jobs left out (too large for
/// the cluster) or left unfinished (a policy that never starts them).
/// </summary>
public sealed record SimulationResult(string Policy, SimulationMetrics Metrics, IReadOnlyList<JobOutcome> Jobs, IReadOnlyList<string> Problems)
{
    /// <summary>GPUs held from each instant on, one entry per instant the count changed (for the utilisation chart).</summary>
    public IReadOnlyList<(DateTimeOffset At, int BusyGpus)> BusyGpus { get; init; } = [];
}

/// <summary>
/// Discrete-event replay of a trace through an <see cref="ISchedulingPolicy"/>: the same policy code the
/// server calls, with a simulated executor behind it. Time is the snapshot's <see cref="ClusterSnapshot.Now"/>
/// and jumps from event to event (an arrival, an end, or a pass a policy asked for). A start takes effect
/// at once and a job then runs for its trace duration; a preemption stops the job at once (no grace
/// period) and queues it to resume where it stopped, paying <see cref="SimulationOptions.RestartCost"/>.
/// </summary>
public static class Simulator
{
    public static SimulationResult Run(Trace trace, SimulatedCluster cluster, ISchedulingPolicy policy, SimulationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(policy);
        var wall = Stopwatch.StartNew();
        var run = new Replay(trace, cluster, policy, options ?? new SimulationOptions());
        run.Execute();
        wall.Stop();
        return run.Result(wall.Elapsed);
    }

    /// <summary>The mutable state of one replay; each step of the event loop is one method.</summary>
    private sealed class Replay
    {
        private readonly SimulatedCluster _cluster;
        private readonly ISchedulingPolicy _policy;
        private readonly SimulationOptions _options;
        private readonly List<SimJob> _arrivals;
        private readonly Dictionary<long, SimJob> _byId = [];
        private readonly Dictionary<long, TimeSpan> _durations = [];
        private readonly List<Project> _projects;
        private readonly List<string> _problems = [];
        private readonly Dictionary<string, int> _nodeIndex = new(StringComparer.Ordinal);
        private readonly int[] _freeGpus;

        // Free capacity kept in step with _running, handed to the policy so it need not rebuild it on every pass.
        private readonly RunningCapacity _capacity;

        // Queued is kept in submit order so that policies can skip sorting it (QueuedInSubmitOrder).
        private readonly SubmitOrderQueue _queued = new();
        private readonly List<Job> _running = [];
        private readonly PriorityQueue<SimJob, (DateTimeOffset At, long Id)> _ends = new();
        private int _nextArrival;
        private int _passes;
        private int _preemptions;
        private TimeSpan _policyTime;
        private double _restartGpuSeconds;
        private int _busy;
        private readonly List<(DateTimeOffset At, int BusyGpus)> _busyGpus = [];

        public Replay(Trace trace, SimulatedCluster cluster, ISchedulingPolicy policy, SimulationOptions options)
        {
            _cluster = cluster;
            _policy = policy;
            _options = options;
            _arrivals = [];
            foreach (var job in trace.Jobs.OrderBy(j => j.SubmittedAt).ThenBy(j => j.Id))
            {
                if (cluster.WhyNever(job) is { } never)
                {
                    _problems.Add($"{never}; left out");
                    continue;
                }

                if (!_byId.TryAdd(job.Id, null!))
                {
                    _problems.Add($"job id {job.Id} appears twice in the trace; the second is left out");
                    continue;
                }

                var spec = cluster.SpecFor(job);
                var sim = new SimJob(job, new Job
                {
                    Id = job.Id,
                    Spec = spec,
                    Owner = "trace",
                    State = JobState.Pending,
                    SubmittedAt = job.SubmittedAt,
                    UpdatedAt = job.SubmittedAt,
                })
                {
                    GpusPerReplica = GpusOf(spec.Resources),
                };
                _byId[job.Id] = sim;
                _durations[job.Id] = job.Duration;
                _arrivals.Add(sim);
            }

            _projects = _arrivals.Select(j => j.Trace.Project).Distinct(StringComparer.Ordinal)
                .Select(name => new Project { Name = name, Quota = Quota.Unlimited }).ToList();
            for (var i = 0; i < cluster.Nodes.Count; i++)
            {
                _nodeIndex[cluster.Nodes[i].Name] = i;
            }

            _freeGpus = cluster.Nodes.Select(n => GpusOf(n.Allocatable)).ToArray();
            _capacity = new RunningCapacity(cluster.Nodes);
        }

        public void Execute()
        {
            if (_arrivals.Count == 0)
            {
                return;
            }

            var now = _arrivals[0].Trace.SubmittedAt;
            while (true)
            {
                // 1. Jobs that end now give back their GPUs before anything new is decided.
                while (_ends.TryPeek(out var ending, out var end) && end.At <= now)
                {
                    _ends.Dequeue();
                    if (ending.Job.State == JobState.Running && ending.EndsAt == end.At)
                    {
                        Finish(ending, end.At);
                    }
                }

                // 2. Jobs submitted by now join the queue, in submit order.
                while (_nextArrival < _arrivals.Count && _arrivals[_nextArrival].Trace.SubmittedAt <= now)
                {
                    _queued.Add(_arrivals[_nextArrival++].Job);
                }

                // 3. Ask the policy; after preemptions ask again at once, so the freed GPUs are used.
                //    An empty queue needs no pass: nothing can start, and a preemption is always for a queued
                //    job. A policy's wake-up is then moot too, as the next arrival brings a pass.
                DateTimeOffset? wake = null;
                for (var pass = 0; pass < _options.MaxPassesPerInstant && _queued.Count > 0; pass++)
                {
                    var decisions = Pass(now);
                    wake = decisions.NextPassAt;
                    if (decisions.Preemptions.Count == 0 || _queued.Count == 0)
                    {
                        break;
                    }
                }

                // 4. Time jumps to the next event.
                DateTimeOffset? next = null;
                if (_nextArrival < _arrivals.Count)
                {
                    next = _arrivals[_nextArrival].Trace.SubmittedAt;
                }

                while (_ends.TryPeek(out var ending, out var end) && !(ending.Job.State == JobState.Running && ending.EndsAt == end.At))
                {
                    _ends.Dequeue();
                }

                if (_ends.TryPeek(out _, out var firstEnd) && (next is null || firstEnd.At < next))
                {
                    next = firstEnd.At;
                }

                if (wake is { } w && w > now && (next is null || w < next))
                {
                    next = w;
                }

                if (next is not { } advance)
                {
                    break;
                }

                now = advance;
            }

            foreach (var job in _queued)
            {
                _problems.Add($"job {job.Id} never started: the {_policy.Name} policy left it waiting with nothing left to happen");
            }
        }

        private SchedulingDecisions Pass(DateTimeOffset now)
        {
            _passes++;
            var policyStart = Stopwatch.GetTimestamp();
            var decisions = _policy.Schedule(new ClusterSnapshot
            {
                Now = now,
                Nodes = _cluster.Nodes,
                Projects = _projects,
                Queued = _queued,
                Running = _running,
                KnownDurations = _durations,
                ExplainPending = false,
                QueuedInSubmitOrder = true,
                Capacity = _capacity,
            });
            _policyTime += Stopwatch.GetElapsedTime(policyStart);

            foreach (var preemption in decisions.Preemptions)
            {
                if (_byId.TryGetValue(preemption.JobId, out var victim) && victim.Job.State == JobState.Running)
                {
                    Preempt(victim, now);
                }
            }

            foreach (var start in decisions.Starts)
            {
                if (_byId.TryGetValue(start.JobId, out var job) && job.Job.State.IsQueued())
                {
                    // The queue is in submit order, so the job is found by binary search; a RemoveAll over
                    // a queue of thousands on every pass was the largest cost of a FIFO replay.
                    var index = _queued.BinarySearch(job.Job, SubmitOrder.Instance);
                    _queued.RemoveAt(index);
                    Start(job, start.Placement, now);
                }
            }

            return decisions;
        }

        private void Start(SimJob sim, IReadOnlyList<ReplicaPlacement> placement, DateTimeOffset now)
        {
            // The simulated executor's own check: a policy that hands out GPUs twice is a bug, not a result.
            var perReplica = sim.GpusPerReplica;
            foreach (var replica in placement)
            {
                var index = _nodeIndex.TryGetValue(replica.Node, out var i) ? i : throw new InvalidOperationException(
                    $"policy {_policy.Name} placed job {sim.Job.Id} on unknown node {replica.Node}");
                _freeGpus[index] -= perReplica;
                if (_freeGpus[index] < 0 || replica.AcceleratorIndices.Count != perReplica)
                {
                    throw new InvalidOperationException($"policy {_policy.Name} over-allocated node {replica.Node} starting job {sim.Job.Id}");
                }
            }

            if (placement.Count != sim.Job.Spec.Replicas)
            {
                throw new InvalidOperationException($"policy {_policy.Name} placed {placement.Count} of job {sim.Job.Id}'s {sim.Job.Spec.Replicas} replicas");
            }

            Busy(now, perReplica * placement.Count);
            sim.FirstStartedAt ??= now;
            sim.Overhead = sim.Job.Attempts.Count > 0 ? _options.RestartCost : TimeSpan.Zero;
            sim.EndsAt = now + sim.Remaining + sim.Overhead;
            sim.Job = sim.Job with
            {
                State = JobState.Running,
                UpdatedAt = now,
                Attempts = AttemptHistory.Started(sim.Job.Attempts, new JobAttempt { Number = sim.Job.Attempts.Count + 1, Placement = placement, StartedAt = now }),
            };
            sim.RunningSlot = _running.Count;
            _running.Add(sim.Job);
            _capacity.Add(sim.Job);
            _ends.Enqueue(sim, (sim.EndsAt.Value, sim.Job.Id));
        }

        private void Preempt(SimJob sim, DateTimeOffset now)
        {
            var attempt = sim.Job.CurrentAttempt!;
            var progress = now - attempt.StartedAt - sim.Overhead;
            if (progress > TimeSpan.Zero)
            {
                sim.Remaining -= progress;
            }

            Release(sim, now, JobState.Preempted, "preempted");
            sim.Preemptions++;
            _preemptions++;

            // Back into the queue at its submit-order place.
            var index = _queued.BinarySearch(sim.Job, SubmitOrder.Instance);
            _queued.Insert(index < 0 ? ~index : index, sim.Job);
        }

        private void Finish(SimJob sim, DateTimeOffset now)
        {
            Release(sim, now, JobState.Succeeded, "exited 0");
            sim.Remaining = TimeSpan.Zero;
            sim.FinishedAt = now;
        }

        private void Release(SimJob sim, DateTimeOffset now, JobState state, string outcome)
        {
            var attempt = sim.Job.CurrentAttempt!;
            _capacity.Remove(sim.Job);
            var held = now - attempt.StartedAt;
            sim.HeldTime += held * sim.Job.Spec.Replicas;
            var perReplica = sim.GpusPerReplica;
            _restartGpuSeconds += (held < sim.Overhead ? held : sim.Overhead).TotalSeconds * perReplica * sim.Job.Spec.Replicas;
            Busy(now, -perReplica * attempt.Placement.Count);
            foreach (var replica in attempt.Placement)
            {
                _freeGpus[_nodeIndex[replica.Node]] += perReplica;
            }

            // Swap-remove through the index map: a FindIndex over hundreds of running jobs per end added up.
            var slot = sim.RunningSlot;
            var last = _running.Count - 1;
            if (slot != last)
            {
                _running[slot] = _running[last];
                _byId[_running[slot].Id].RunningSlot = slot;
            }

            _running.RemoveAt(last);
            sim.RunningSlot = -1;
            sim.EndsAt = null;
            // A finished job's attempts are not read again (its outcome is kept on the SimJob): dropping them lets
            // the collector free them instead of walking 82,000 jobs' attempts and placements in every full collection.
            sim.Job = sim.Job with
            {
                State = state,
                UpdatedAt = now,
                Attempts = state == JobState.Succeeded ? []
                    : AttemptHistory.Ended(sim.Job.Attempts, attempt with { EndedAt = now, ExitCode = null, Outcome = outcome }),
            };
        }

        // The attempts with the last one replaced by its ended form.

        // One entry per instant: changes at the same instant overwrite the last entry.
        private void Busy(DateTimeOffset now, int change)
        {
            _busy += change;
            if (_busyGpus.Count > 0 && _busyGpus[^1].At == now)
            {
                _busyGpus[^1] = (now, _busy);
            }
            else
            {
                _busyGpus.Add((now, _busy));
            }
        }

        private static int GpusOf(Core.Resources.ResourceVector resources)
        {
            var gpus = 0;
            foreach (var (_, count) in resources.Accelerators)
            {
                gpus += count;
            }

            return gpus;
        }

        public SimulationResult Result(TimeSpan wall)
        {
            var outcomes = _arrivals.Select(j => new JobOutcome(j.Trace.Id, j.Trace.Project, j.Trace.Gpus, j.Trace.SubmittedAt,
                j.FirstStartedAt, j.FinishedAt, j.HeldTime, j.Preemptions)
            {
                Replicas = j.Job.Spec.Replicas,
                GpusPerReplica = GpusOf(j.Job.Spec.Resources),
            }).ToList();
            var metrics = SimulationMetrics.From(_policy.Name, outcomes, _cluster, _preemptions, _passes, wall, _policyTime, _restartGpuSeconds);
            return new SimulationResult(_policy.Name, metrics, outcomes, _problems) { BusyGpus = _busyGpus };
        }
    }

    /// <summary>A trace job and where it stands in the replay.</summary>
    private sealed class SimJob(TraceJob trace, Job job)
    {
        public TraceJob Trace { get; } = trace;

        public Job Job { get; set; } = job;

        /// <summary>Run time still to go, not counting the restart cost of the next attempt.</summary>
        public TimeSpan Remaining { get; set; } = trace.Duration;

        /// <summary>The restart cost the current attempt pays before it makes progress.</summary>
        public TimeSpan Overhead { get; set; }

        public DateTimeOffset? EndsAt { get; set; }

        public DateTimeOffset? FirstStartedAt { get; set; }

        public DateTimeOffset? FinishedAt { get; set; }

        /// <summary>Replica-time held over all attempts; times GPUs per replica it is the GPU time used.</summary>
        public TimeSpan HeldTime { get; set; }

        public int Preemptions { get; set; }

        /// <summary>GPUs each replica holds.</summary>
        public int GpusPerReplica { get; init; }

        /// <summary>Where the job sits in the running list while it runs; -1 otherwise.</summary>
        public int RunningSlot { get; set; } = -1;
    }

    /// <summary>
    /// The queue in submit order, as an array with room at both ends: a start removes a job near the
    /// front under FIFO, and a list moved every job behind it (tens of thousands) on each of 82,000 starts.
    /// Removing or inserting moves whichever side of the position is shorter.
    /// </summary>
    /// <summary>
    /// A job's attempts as one version of its record sees them: the first Count - 1 in an array shared by every version
    /// of the job, the last held by the version itself (it is the running attempt in one version and the ended one in
    /// the next). A start or an end makes a new version in constant time, where copying the attempts at each was the
    /// largest allocation of a replay whose jobs are preempted hundreds of times. Only the newest version of a job
    /// adds to the shared array, at the one place no older version reads from it (each reads below its own last).
    /// </summary>
    private sealed class AttemptHistory : IReadOnlyList<JobAttempt>
    {
        private readonly Shared _shared;
        private readonly JobAttempt _last;

        private AttemptHistory(Shared shared, int count, JobAttempt last)
        {
            _shared = shared;
            Count = count;
            _last = last;
        }

        public int Count { get; }

        public JobAttempt this[int index] =>
            (uint)index >= (uint)Count ? throw new ArgumentOutOfRangeException(nameof(index)) : index == Count - 1 ? _last : _shared.Items[index];

        /// <summary><paramref name="attempts"/> and then <paramref name="started"/>.</summary>
        public static IReadOnlyList<JobAttempt> Started(IReadOnlyList<JobAttempt> attempts, JobAttempt started)
        {
            var count = attempts.Count;
            Shared shared;
            if (attempts is AttemptHistory history && history._shared.Used == count - 1)
            {
                // The newest version: its last attempt joins the shared part, where no version reads yet.
                shared = history._shared;
                if (count > 0)
                {
                    shared.Add(history._last);
                }
            }
            else
            {
                shared = new Shared(Math.Max(4, count * 2));
                for (var i = 0; i < count; i++)
                {
                    shared.Add(attempts[i]);
                }
            }

            return new AttemptHistory(shared, count + 1, started);
        }

        /// <summary><paramref name="attempts"/> with its last attempt replaced by <paramref name="ended"/>.</summary>
        public static IReadOnlyList<JobAttempt> Ended(IReadOnlyList<JobAttempt> attempts, JobAttempt ended)
        {
            if (attempts is AttemptHistory history)
            {
                return new AttemptHistory(history._shared, history.Count, ended);
            }

            var copy = new JobAttempt[attempts.Count];
            for (var i = 0; i < copy.Length - 1; i++)
            {
                copy[i] = attempts[i];
            }

            copy[^1] = ended;
            return copy;
        }

        public IEnumerator<JobAttempt> GetEnumerator()
        {
            for (var i = 0; i < Count; i++)
            {
                yield return this[i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        private sealed class Shared(int capacity)
        {
            public JobAttempt[] Items { get; private set; } = new JobAttempt[capacity];

            public int Used { get; private set; }

            public void Add(JobAttempt attempt)
            {
                if (Used == Items.Length)
                {
                    var grown = new JobAttempt[Items.Length * 2];
                    Array.Copy(Items, grown, Used);
                    Items = grown;
                }

                Items[Used++] = attempt;
            }
        }
    }

    private sealed class SubmitOrderQueue : IReadOnlyList<Job>
    {
        private Job[] _items = new Job[16];
        private int _head;

        public int Count { get; private set; }

        public Job this[int index] => (uint)index < (uint)Count ? _items[_head + index] : throw new ArgumentOutOfRangeException(nameof(index));

        public void Add(Job job) => Insert(Count, job);

        public int BinarySearch(Job job, IComparer<Job> comparer)
        {
            var found = Array.BinarySearch(_items, _head, Count, job, comparer);
            return found >= 0 ? found - _head : ~(~found - _head);
        }

        public void Insert(int index, Job job)
        {
            if (index < Count / 2 && _head > 0)
            {
                Array.Copy(_items, _head, _items, _head - 1, index);
                _head--;
            }
            else
            {
                if (_head + Count == _items.Length)
                {
                    var grown = new Job[Math.Max(16, Count * 2)];
                    var head = (grown.Length - Count) / 4;
                    Array.Copy(_items, _head, grown, head, Count);
                    _items = grown;
                    _head = head;
                }

                Array.Copy(_items, _head + index, _items, _head + index + 1, Count - index);
            }

            _items[_head + index] = job;
            Count++;
        }

        public void RemoveAt(int index)
        {
            if (index < Count / 2)
            {
                Array.Copy(_items, _head, _items, _head + 1, index);
                _items[_head] = null!;
                _head++;
            }
            else
            {
                Array.Copy(_items, _head + index + 1, _items, _head + index, Count - index - 1);
                _items[_head + Count - 1] = null!;
            }

            Count--;
        }

        public IEnumerator<Job> GetEnumerator()
        {
            for (var i = 0; i < Count; i++)
            {
                yield return _items[_head + i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    private sealed class SubmitOrder : IComparer<Job>
    {
        public static readonly SubmitOrder Instance = new();

        public int Compare(Job? x, Job? y)
        {
            var bySubmit = x!.SubmittedAt.CompareTo(y!.SubmittedAt);
            return bySubmit != 0 ? bySubmit : x.Id.CompareTo(y.Id);
        }
    }
}

using System.Globalization;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

/// <summary>
/// One run of a planning policy over one snapshot. Steps, in order: (1) free capacity once, in flat
/// arrays with a bucket index; (2) queue order by one sort of flat keys; (3) each job in order: quota
/// (cohort borrowing), placement, else reclaim of borrowed quota or priority preemption, else a
/// reservation (EASY backfill) for the first blocked job; (4) estimated starts from the plan.
/// Jobs of one shape (resources per replica, replicas, node selector) that failed to place fail again
/// without another node scan: capacity only shrinks during a pass (Kubernetes' equivalence classes,
/// Slurm's skipping of jobs like one that failed).
/// </summary>
internal sealed class PlanPass
{
    private static readonly IReadOnlyDictionary<string, int> NoRejections = new Dictionary<string, int>();

    private readonly ClusterSnapshot _snapshot;
    private readonly PlanningOptions _options;
    private readonly CapacityIndex _index;
    private readonly QuotaLedger _quota;
    private readonly Dictionary<ResourceVector, ReplicaRequest> _requests = [];
    private readonly Dictionary<ShapeKey, (string Reason, IReadOnlyDictionary<string, int> Rejections)> _failed = [];
    private readonly HashSet<(ShapeKey, int Priority, string Project)> _noPreemption = [];
    private readonly HashSet<long> _promised = [];
    private readonly List<StartDecision> _starts = [];
    private readonly List<(Job Job, ReplicaRequest Replica, IReadOnlyList<ReplicaPlacement> Placement)> _started = [];
    private readonly List<PreemptDecision> _preemptions = [];
    private readonly List<Waiting> _waiting = [];

    // The EASY reservation: the first job that could not start, when it will, and the free capacity at
    // that time less its placement (the shadow). Later jobs that would still run then must fit the shadow.
    private Reservation? _reservation;
    private bool _reservationTried;

    // Built on the first preemption question: running jobs already stopping, and the rest in victim order.
    private List<Job>? _stopping;
    private List<Job>? _victimOrder;
    private int _preemptors;
    private readonly Dictionary<string, HashSet<string>> _mates = new(StringComparer.Ordinal);
    private long _matesVersion = -1;

    public PlanPass(ClusterSnapshot snapshot, PlanningOptions options, CapacityIndex.LayoutCache layouts)
    {
        _snapshot = snapshot;
        _options = options;
        _index = CapacityIndex.Build(snapshot.Nodes, snapshot.Running, _requests, layouts);
        _quota = new QuotaLedger(snapshot);
    }

    public SchedulingDecisions Run()
    {
        var queue = Order();
        for (var i = 0; i < queue.Length; i++)
        {
            Decide(queue[i], i + 1);
        }

        if (_snapshot.ExplainPending)
        {
            return new SchedulingDecisions(_starts, _preemptions, Explain());
        }

        return new SchedulingDecisions(_starts, _preemptions, []);
    }

    /// <summary>Queue order: effective priority descending, then submit time, then id. One sort of flat keys: sorting 100,000 jobs through LINQ comparers took tens of milliseconds.</summary>
    private Job[] Order()
    {
        var queued = _snapshot.Queued;
        var jobs = new Job[queued.Count];
        var keys = new OrderKey[queued.Count];
        var penalties = _options.FairShare ? FairSharePenalties() : null;
        for (var i = 0; i < jobs.Length; i++)
        {
            var job = queued[i];
            jobs[i] = job;
            double score = job.Spec.Priority;
            if (penalties is not null)
            {
                score -= penalties.GetValueOrDefault(job.Spec.Project);
            }

            if (_options.AgingPerHour > 0)
            {
                var waited = _snapshot.Now - job.SubmittedAt;
                score += _options.AgingPerHour * Math.Max(0, waited.TotalHours);
            }

            keys[i] = new OrderKey(-score, job.SubmittedAt.UtcTicks, job.Id);
        }

        Array.Sort(keys, jobs);
        return jobs;
    }

    /// <summary>
    /// Each project's fair-share penalty in priority points, 0..<see cref="PlanningOptions.FairShareWeight"/>:
    /// the mean of its part of all decayed usage and its dominant-resource share of the cluster now.
    /// Projects have equal shares.
    /// </summary>
    private Dictionary<string, double> FairSharePenalties()
    {
        var penalties = new Dictionary<string, double>(StringComparer.Ordinal);
        var decayed = _snapshot.DecayedUsage ?? new Dictionary<string, double>();
        var totalDecayed = decayed.Values.Where(v => v > 0).Sum();

        // Dominant share in flat sums: adding resource vectors (sorted maps) for every node and running
        // job was a fifth of a pass over 10,000 nodes.
        double totalCpu = 0, totalMemory = 0, totalGpus = 0;
        foreach (var node in _snapshot.Nodes)
        {
            totalCpu += node.Allocatable.CpuMillis;
            totalMemory += node.Allocatable.MemoryBytes;
            totalGpus += node.Allocatable.AcceleratorCount;
        }

        var usage = new Dictionary<string, (double Cpu, double Memory, double Gpus)>(StringComparer.Ordinal);
        foreach (var job in _snapshot.Running)
        {
            var (cpu, memory, gpus) = usage.GetValueOrDefault(job.Spec.Project);
            var replicas = job.Spec.Replicas;
            usage[job.Spec.Project] = (cpu + (job.Spec.Resources.CpuMillis * replicas), memory + (job.Spec.Resources.MemoryBytes * replicas),
                gpus + (job.Spec.Resources.AcceleratorCount * replicas));
        }

        static double Share(double used, double total) => total > 0 ? used / total : 0;
        foreach (var project in _snapshot.Projects.Select(p => p.Name).Distinct(StringComparer.Ordinal))
        {
            var history = totalDecayed > 0 ? Math.Max(0, decayed.GetValueOrDefault(project)) / totalDecayed : 0;
            var (cpu, memory, gpus) = usage.GetValueOrDefault(project);
            var now = Math.Min(1, Math.Max(Share(cpu, totalCpu), Math.Max(Share(memory, totalMemory), Share(gpus, totalGpus))));
            penalties[project] = _options.FairShareWeight * (history + now) / 2;
        }

        return penalties;
    }

    private void Decide(Job job, int position)
    {
        // 1. Project and quota; neither holds back other projects' jobs.
        if (!_quota.Exists(job.Spec.Project))
        {
            Wait(job, position, PendingReasons.MissingProject(job.Spec.Project), NoRejections, blocked: false);
            return;
        }

        if (_quota.Problem(job, out var withinNominal) is { } quotaProblem)
        {
            Wait(job, position, quotaProblem, NoRejections, blocked: false);
            return;
        }

        // 2. Place now. A job that would still run at the reservation must leave the reserved room alone.
        var replica = CapacityIndex.Request(_requests, job.Spec.Resources);
        var shadow = _reservation is { } reserved && !EndsBefore(job, reserved.At) ? reserved.Shadow : null;
        var shape = new ShapeKey(replica, job.Spec.Replicas, SelectorKey(job.Spec), shadow is not null);
        if (!_failed.ContainsKey(shape))
        {
            if (PlaceGang(_index, job, replica, shadow, out _) is { } placement)
            {
                _starts.Add(new StartDecision(job.Id, placement));
                _started.Add((job, replica, placement));
                _quota.Add(job);
                return;
            }

            if (shadow is not null)
            {
                // Failing against the shadow is not failing for lack of room now: other shapes may still backfill.
                _failed[shape] = (_reservation!.Reason(job.Id), NoRejections);
            }
            else
            {
                var rejections = _snapshot.ExplainPending ? _index.Rejections(replica, job.Spec.NodeSelector) : NoRejections;
                _failed[shape] = (NoRoom(job.Spec, replica), rejections);
            }
        }

        var (reason, counts) = _failed[shape];

        // 3. No room: reclaim quota others borrowed, or preempt lower-priority work, or wait for stops.
        if (TryMakeRoom(job, replica, shape, withinNominal) is { } waitingFor)
        {
            Wait(job, position, waitingFor, counts, blocked: false);
            return;
        }

        // 4. The first blocked job gets a reservation; every later job must not delay it.
        if (_options.Backfill && !_reservationTried && shadow is null)
        {
            _reservationTried = true;
            _reservation = Reserve(job, replica);
        }

        Wait(job, position, reason, counts, blocked: true);
    }

    private void Wait(Job job, int position, string reason, IReadOnlyDictionary<string, int> rejections, bool blocked)
    {
        if (_snapshot.ExplainPending)
        {
            _waiting.Add(new Waiting(job, position, reason, rejections, blocked));
        }
    }

    /// <summary>Places every replica or none; the second and later replicas prefer the rack of the first.</summary>
    private List<ReplicaPlacement>? PlaceGang(CapacityIndex index, Job job, ReplicaRequest replica, CapacityIndex? shadow, out int placed)
    {
        var spec = job.Spec;
        var placement = new List<ReplicaPlacement>(spec.Replicas);
        var nodes = new List<int>(spec.Replicas);
        var shadowTaken = new List<int[]>();
        var rack = -1;
        Func<int, bool>? extra = shadow is null ? null : n => shadow.HasRoom(n, replica);
        for (var rank = 0; rank < spec.Replicas; rank++)
        {
            var n = index.Select(replica, spec.NodeSelector, _options.Spread, rack, extra);
            if (n < 0)
            {
                for (var k = 0; k < placement.Count; k++)
                {
                    index.Release(nodes[k], replica, placement[k].AcceleratorIndices);
                    shadow?.Release(nodes[k], replica, shadowTaken[k]);
                }

                placed = rank;
                return null;
            }

            placement.Add(new ReplicaPlacement(rank, index.Node(n).Name, index.Take(n, replica)));
            if (shadow is not null)
            {
                shadowTaken.Add(shadow.TakeAmounts(n, replica));
            }

            nodes.Add(n);
            rack = rank == 0 && spec.Replicas > 1 ? index.RackOf(n) : rack;
        }

        placed = spec.Replicas;
        return placement;
    }

    private bool Fits(CapacityIndex index, Job job, ReplicaRequest replica)
    {
        if (PlaceGang(index, job, replica, null, out _) is not { } placement)
        {
            return false;
        }

        foreach (var replicaPlacement in placement)
        {
            index.Release(index.IndexOf(replicaPlacement.Node), replica, replicaPlacement.AcceleratorIndices);
        }

        return true;
    }

    /// <summary>Whether the nodes <paramref name="freed"/> names could now take a replica: only those nodes changed.</summary>
    private static bool FreesRoomFor(CapacityIndex index, IReadOnlyList<ReplicaPlacement> freed, ReplicaRequest replica, JobSpec spec)
    {
        foreach (var placed in freed)
        {
            var n = index.IndexOf(placed.Node);
            if (n >= 0 && index.Reject(n, replica, spec.NodeSelector) is null)
            {
                return true;
            }
        }

        return false;
    }

    private bool EndsBefore(Job job, DateTimeOffset at) =>
        RuntimeEstimates.For(job, _snapshot.RuntimeEstimates) is { } runtime && _snapshot.Now + runtime <= at;

    /// <summary>
    /// Victims whose end lets the job fit: jobs already stopping first (never stop more), then, within its
    /// nominal quota, jobs of cohort mates that borrow (reclaim), then preemptible jobs of lower priority.
    /// Victims in order: preemptible first, lowest priority, youngest (least work lost), highest id; whole
    /// gangs; never one started within the cooldown. Returns the pending reason, or null when nothing helps.
    /// </summary>
    private string? TryMakeRoom(Job job, ReplicaRequest replica, ShapeKey shape, bool withinNominal)
    {
        var key = (shape, job.Spec.Priority, job.Spec.Project);
        if (_preemptors >= _options.MaxPreemptorsPerPass || _noPreemption.Contains(key) || _noPreemption.Contains((shape, job.Spec.Priority, "")))
        {
            return null;
        }

        if (_victimOrder is null)
        {
            var cutoff = _snapshot.Now - _options.PreemptionCooldown;
            _stopping = _snapshot.Running.Where(j => j.Stop is not null).OrderBy(j => j.Id).ToList();
            _victimOrder = _snapshot.Running
                .Where(j => j.Stop is null && (j.CurrentAttempt?.StartedAt ?? DateTimeOffset.MinValue) <= cutoff)
                .OrderByDescending(j => j.Spec.Preemptible)
                .ThenBy(j => j.Spec.Priority)
                .ThenByDescending(j => j.CurrentAttempt?.StartedAt ?? DateTimeOffset.MinValue)
                .ThenByDescending(j => j.Id)
                .ToList();
        }

        var mates = withinNominal ? BorrowingMates(job.Spec.Project) : [];
        if (mates.Count == 0)
        {
            key = (shape, job.Spec.Priority, "");
        }

        // Lazily: the walk below stops at the first victim set that makes room, and building both lists
        // in full for every new (shape, priority, project) was most of the preemption search.
        var stopping = _stopping!.Where(j => !_promised.Contains(j.Id));
        var candidates = _victimOrder
            .Where(j => !_promised.Contains(j.Id) && (mates.Contains(j.Spec.Project) || (j.Spec.Preemptible && j.Spec.Priority < job.Spec.Priority)));
        CapacityIndex? future = null;
        var waitedFor = new List<Job>();
        var victims = new List<Job>();
        var fits = false;
        foreach (var (gone, isVictim) in stopping.Select(s => (s, false)).Concat(candidates.Select(c => (c, true))))
        {
            future ??= _index.Clone();
            var goneReplica = CapacityIndex.Request(_requests, gone.Spec.Resources);
            future.Release(gone, goneReplica);
            (isVictim ? victims : waitedFor).Add(gone);
            if (FreesRoomFor(future, gone.CurrentAttempt?.Placement ?? [], replica, job.Spec) && Fits(future, job, replica))
            {
                fits = true;
                break;
            }
        }

        if (!fits)
        {
            _noPreemption.Add(key);
            return null;
        }

        // Promise the room: nobody else in this pass may take what the job's future placement uses.
        _preemptors++;
        PlaceGang(future!, job, replica, null, out _);
        _index.RestrictTo(future!);
        foreach (var gone in waitedFor.Concat(victims))
        {
            _promised.Add(gone.Id);
        }

        foreach (var victim in victims)
        {
            var why = mates.Contains(victim.Spec.Project)
                ? $"preempted by job {job.Id} to reclaim quota project {victim.Spec.Project} borrowed"
                : $"preempted by job {job.Id} (priority {job.Spec.Priority})";
            _preemptions.Add(new PreemptDecision(victim.Id, job.Id, why));
            _quota.Remove(victim);
        }

        return PendingReasons.WaitingForStops(waitedFor.Concat(victims).Select(j => j.Id), waitedFor.All(s => s.Stop!.Kind == StopKind.Preempt));
    }

    /// <summary>Cohort mates of the project that use more than their nominal quota now; cached until usage changes.</summary>
    private HashSet<string> BorrowingMates(string project)
    {
        if (_matesVersion != _quota.Version)
        {
            _mates.Clear();
            _matesVersion = _quota.Version;
        }

        if (!_mates.TryGetValue(project, out var mates))
        {
            mates = _quota.CohortMates(project).Where(_quota.IsBorrowing).ToHashSet(StringComparer.Ordinal);
            _mates[project] = mates;
        }

        return mates;
    }

    /// <summary>The earliest time enough running work has ended (max runtime or estimate) for the job to fit, with the capacity left then.</summary>
    private Reservation? Reserve(Job job, ReplicaRequest replica)
    {
        var timeline = _index.Clone();
        foreach (var (end, ended) in Ends())
        {
            var endedReplica = CapacityIndex.Request(_requests, ended.Spec.Resources);
            timeline.Release(ended, endedReplica);
            if (FreesRoomFor(timeline, ended.CurrentAttempt?.Placement ?? [], replica, job.Spec) && PlaceGang(timeline, job, replica, null, out _) is not null)
            {
                return new Reservation(job.Id, end, ended.Id, timeline);
            }
        }

        return null;
    }

    /// <summary>Running jobs (not promised to anyone) with a known end, earliest first; an overdue job ends now.</summary>
    private List<(DateTimeOffset End, Job Job)> Ends()
    {
        var ends = new List<(DateTimeOffset, Job)>();
        foreach (var job in _snapshot.Running)
        {
            if (job.CurrentAttempt is not { } attempt || _promised.Contains(job.Id))
            {
                continue;
            }

            if (RuntimeEstimates.For(job, _snapshot.RuntimeEstimates) is { } runtime)
            {
                var end = attempt.StartedAt + runtime;
                ends.Add((end < _snapshot.Now ? _snapshot.Now : end, job));
            }
        }

        ends.Sort((a, b) => a.Item1 != b.Item1 ? a.Item1.CompareTo(b.Item1) : a.Item2.Id.CompareTo(b.Item2.Id));
        return ends;
    }

    /// <summary>
    /// Pending decisions, with an estimated start for the first <see cref="PlanningOptions.EstimateLimit"/>
    /// jobs blocked for room: walking forward through known ends on a copy of what is left after this
    /// pass, each job in queue order takes the earliest time it fits (never earlier than the one before it).
    /// </summary>
    private List<PendingDecision> Explain()
    {
        var estimates = new Dictionary<long, (DateTimeOffset At, long? After)>();
        var blocked = _waiting.Where(w => w.Blocked).Take(_options.EstimateLimit).ToList();
        if (blocked.Count > 0)
        {
            var timeline = _index.Clone();
            var events = new PriorityQueue<(ReplicaRequest Replica, IReadOnlyList<ReplicaPlacement> Placement, long Id), (DateTimeOffset, long)>();
            foreach (var (end, job) in Ends())
            {
                events.Enqueue((CapacityIndex.Request(_requests, job.Spec.Resources), job.CurrentAttempt!.Placement, job.Id), (end, job.Id));
            }

            foreach (var (job, replica, placement) in _started)
            {
                if (RuntimeEstimates.For(job, _snapshot.RuntimeEstimates) is { } runtime)
                {
                    events.Enqueue((replica, placement, job.Id), (_snapshot.Now + runtime, job.Id));
                }
            }

            var clock = _snapshot.Now;
            long? lastEnded = null;
            foreach (var waiting in blocked)
            {
                var job = waiting.Job;
                var replica = CapacityIndex.Request(_requests, job.Spec.Resources);
                var placement = PlaceGang(timeline, job, replica, null, out _);
                while (placement is null && events.TryDequeue(out var ended, out var at))
                {
                    foreach (var placed in ended.Placement)
                    {
                        timeline.Release(timeline.IndexOf(placed.Node), ended.Replica, placed.AcceleratorIndices);
                    }

                    clock = at.Item1;
                    lastEnded = ended.Id;

                    // Only the freed nodes changed: place again only once one of them could take a replica.
                    if (FreesRoomFor(timeline, ended.Placement, replica, job.Spec))
                    {
                        placement = PlaceGang(timeline, job, replica, null, out _);
                    }
                }

                if (placement is null)
                {
                    break;
                }

                estimates[job.Id] = (clock, lastEnded);
                if (RuntimeEstimates.For(job, _snapshot.RuntimeEstimates) is { } runtime)
                {
                    events.Enqueue((replica, placement, job.Id), (clock + runtime, job.Id));
                }
            }
        }

        var pending = new List<PendingDecision>(_waiting.Count);
        var ahead = 0;
        foreach (var waiting in _waiting)
        {
            if (estimates.TryGetValue(waiting.Job.Id, out var estimate))
            {
                var reason = $"{waiting.Reason}; {Ahead(ahead)}; estimated start {When(estimate.At)}"
                    + (estimate.After is { } after ? $" when job {after.ToString(CultureInfo.InvariantCulture)} ends" : "");
                pending.Add(new PendingDecision(waiting.Job.Id, reason, waiting.Rejections, waiting.Position, estimate.At));
            }
            else
            {
                pending.Add(new PendingDecision(waiting.Job.Id, waiting.Reason, waiting.Rejections, waiting.Position));
            }

            ahead += waiting.Blocked ? 1 : 0;
        }

        return pending;
    }

    private static string Ahead(int jobs) => jobs == 1 ? "1 job ahead" : $"{jobs.ToString(CultureInfo.InvariantCulture)} jobs ahead";

    private string When(DateTimeOffset at)
    {
        var minutes = (int)Math.Ceiling((at - _snapshot.Now).TotalMinutes);
        return minutes <= 0 ? "now" : $"{at.UtcDateTime.ToString("HH:mm", CultureInfo.InvariantCulture)} UTC (in {minutes.ToString(CultureInfo.InvariantCulture)} min)";
    }

    /// <summary>Why no node takes the gang now, in the words of <see cref="PendingReasons.NoRoom"/>.</summary>
    private string NoRoom(JobSpec spec, ReplicaRequest replica)
    {
        if (_index.Count == 0)
        {
            return "no node is registered";
        }

        var ready = Enumerable.Range(0, _index.Count).Where(n => _index.Node(n).State == NodeState.Ready).ToList();
        if (ready.Count == 0)
        {
            var draining = Enumerable.Range(0, _index.Count).Count(n => _index.Node(n).State == NodeState.Draining);
            return $"no ready node ({draining} draining, {_index.Count - draining} down)";
        }

        var accepting = ready.Count(n => _index.Reject(n, replica, spec.NodeSelector) is null);
        if (accepting > 0)
        {
            return $"needs {spec.Replicas} replicas of {spec.Resources}; only {accepting} node(s) can take one now";
        }

        if (spec.NodeSelector.Count > 0 && !ready.Any(n => _index.Reject(n, replica, spec.NodeSelector) is not string r || !r.StartsWith("node label", StringComparison.Ordinal)))
        {
            return $"no ready node matches node selector {string.Join(", ", spec.NodeSelector.Select(kv => $"{kv.Key}={kv.Value}"))}";
        }

        for (var i = 0; i < replica.Types.Count; i++)
        {
            var type = replica.Types[i];
            var withType = ready.Where(n => _index.HasType(n, type)).ToList();
            if (withType.Count == 0)
            {
                return $"no ready node has {type}";
            }

            var largest = withType.MaxBy(n => _index.Free(n, type));
            var block = _index.Free(largest, type);
            if (block == 0)
            {
                return $"needs {replica.Counts[i]} {type} on one node; every {type} on ready nodes is in use";
            }

            if (block < replica.Counts[i])
            {
                return $"needs {replica.Counts[i]} {type} on one node; the largest free block is {block} on node {_index.Node(largest).Name}";
            }
        }

        var closest = ready.MaxBy(n => Math.Min((double)_index.Cpu(n) / Math.Max(1, replica.CpuMillis), (double)_index.Memory(n) / Math.Max(1, replica.MemoryBytes)));
        return $"needs cpu {Quantity.FormatCpu(replica.CpuMillis)}, memory {Quantity.FormatMemory(replica.MemoryBytes)} per replica; "
            + $"most free: node {_index.Node(closest).Name} with cpu {Quantity.FormatCpu(Math.Max(0, _index.Cpu(closest)))}, memory {Quantity.FormatMemory(Math.Max(0, _index.Memory(closest)))}";
    }

    private static string SelectorKey(JobSpec spec) =>
        spec.NodeSelector.Count == 0 ? "" : string.Join("\n", spec.NodeSelector.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));

    private readonly record struct ShapeKey(ReplicaRequest Replica, int Replicas, string Selector, bool Shadowed);

    private sealed record Waiting(Job Job, int Position, string Reason, IReadOnlyDictionary<string, int> Rejections, bool Blocked);

    private sealed record Reservation(long JobId, DateTimeOffset At, long AfterJobId, CapacityIndex Shadow)
    {
        public string Reason(long jobId) =>
            $"would delay job {JobId.ToString(CultureInfo.InvariantCulture)}, which has the room reserved from {At.UtcDateTime.ToString("HH:mm", CultureInfo.InvariantCulture)} UTC (backfill)";
    }

    private readonly record struct OrderKey(double NegativeScore, long SubmittedTicks, long Id) : IComparable<OrderKey>
    {
        public int CompareTo(OrderKey other)
        {
            var byScore = NegativeScore.CompareTo(other.NegativeScore);
            if (byScore != 0)
            {
                return byScore;
            }

            var bySubmit = SubmittedTicks.CompareTo(other.SubmittedTicks);
            return bySubmit != 0 ? bySubmit : Id.CompareTo(other.Id);
        }
    }
}

using Stratum.Core.Jobs;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

/// <summary>Settings of <see cref="LasPolicy"/>.</summary>
public sealed record LasOptions
{
    /// <summary>
    /// Attained service, in GPU-seconds, at which a job drops to the next queue, ascending. Default
    /// 3,200 and 25,600 (three queues), the thresholds the scheduling issue measures Tiresias with.
    /// </summary>
    public IReadOnlyList<double> QueueThresholdsGpuSeconds { get; init; } = [3_200, 25_600];

    /// <summary>
    /// Starvation promotion: a preempted job in a lower queue that has waited this many times as long
    /// as it has run (since its last promotion) goes back to the first queue with its service count
    /// restarted. 0 turns promotion off. Default 8.
    /// </summary>
    public double PromoteKnob { get; init; } = 8;

    /// <summary>
    /// Least time an attempt runs before it may be preempted. Each preemption costs the victim a restart
    /// (reload, warm-up); without a floor a job that just resumed can be stopped again at once and pay
    /// that cost over and over. Default zero (Tiresias has none).
    /// </summary>
    public TimeSpan MinRunBeforePreemption { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// <paramref name="count"/> thresholds <paramref name="first"/>, first x factor, first x factor², ...:
    /// finer queues make discretised LAS approach continuous LAS.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is not positive, the factor is not above 1, or count is below 1.</exception>
    public static IReadOnlyList<double> Geometric(double first, double factor, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(first);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(factor, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var thresholds = new double[count];
        for (var i = 0; i < count; i++)
        {
            thresholds[i] = first * Math.Pow(factor, i);
        }

        return thresholds;
    }
}

/// <summary>
/// Least attained service for jobs of unknown duration: Tiresias' discretised two-dimensional LAS
/// (Gu et al., NSDI 2019). A job's service is the GPU-seconds it has held (GPUs times time run,
/// summed over its attempts). Jobs sit in queues by service (below the first threshold: queue 0); a
/// lower queue always goes first, and within a queue the earlier submission goes first. Preemptive:
/// a job in a better queue takes the GPUs of running jobs in strictly worse ones. Long jobs sink, so short
/// ones finish fast without anyone knowing durations; starvation promotion lifts a job that has waited
/// too long back to queue 0.
/// </summary>
/// <remarks>
/// <para>
/// Preemption is held back on purpose (an earlier version preempted far more than it gained): a running
/// job is stopped only for a waiting job of a strictly better queue, only if that job then fits in what
/// is free plus what the victims give back (so it does start; nothing is stopped for a job that would
/// still wait), never a job that is not preemptible or is already stopping, never one whose attempt has
/// run less than <see cref="LasOptions.MinRunBeforePreemption"/>, and always whole gangs. The freed room
/// is promised to that job, so nothing else in the pass takes it.
/// </para>
/// <para>
/// Decisions depend on nothing but the snapshot: service and promotions are worked out from each job's
/// attempts, so the live server and the simulator need only hand in jobs. A replay (the queue promised
/// in submit order, no reasons asked for) goes through <see cref="LasQueueIndex"/>, which keeps the
/// waiting jobs ranked from pass to pass and decides exactly what the plain walk decides
/// (ReplaySpeedPathTests holds the two together). It asks for the next pass
/// (<see cref="SchedulingDecisions.NextPassAt"/>) when a running job will cross a threshold, a waiting
/// job will reach its promotion, or a blocked job's would-be victim ends its minimum run, because each
/// may change what should run although no job arrives or ends.
/// </para>
/// </remarks>
public sealed partial class LasPolicy(LasOptions options) : ISchedulingPolicy
{
    public const string PolicyName = "las";

    public LasPolicy()
        : this(new LasOptions())
    {
    }

    public LasPolicy(LasOptions options, string name)
        : this(options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
    }

    public string Name { get; } = PolicyName;

    public LasOptions Options { get; } = options;

    // Guards _index: a policy instance may be shared, though a replay calls it from one thread.
    private readonly Lock _gate = new();

    // The queue kept ranked from pass to pass for a replay (see LasQueueIndex); null until the first such pass.
    private LasQueueIndex? _index;

    // Service of running jobs before their current attempt, kept from pass to pass for a replay (under _gate).
    private readonly RunningService _runningService = new();

    // The running jobs ranked from pass to pass for a replay (see LasRunningIndex; under _gate).
    private LasRunningIndex? _running;

    /// <summary>
    /// Victim searches place the job over every node after each release, as before the single-replica
    /// shortcut: tests set it on the reference policy, so the shortcut is held to what the placer decides.
    /// </summary>
    internal bool PlaceEveryVictimTrial { get; set; }

    /// <summary>How many single-replica promises the victim search made choosing among the victims' nodes alone: tests check the shortcut is taken.</summary>
    internal int NarrowPromises { get; private set; }

    /// <summary>How often the replay index was ranked from scratch (the first pass included): tests check it stays in step.</summary>
    internal int IndexRebuilds { get; private set; }

    public SchedulingDecisions Schedule(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (!snapshot.ExplainPending && snapshot.QueuedInSubmitOrder)
        {
            lock (_gate)
            {
                _index = LasQueueIndex.Advance(_index, this, snapshot, out var fresh);
                IndexRebuilds += fresh ? 1 : 0;
                if (_index is null)
                {
                    // A queued job the index cannot rank (an attempt not ended): walk plainly.
                    return SchedulePlain(snapshot);
                }

                if (ScheduleIndexed(snapshot, _index) is { } decided)
                {
                    return decided;
                }

                // The index was out of step with the queue: rank it again from scratch.
                IndexRebuilds++;
                _index = LasQueueIndex.Advance(null, this, snapshot, out _);
                if (_index is not null && ScheduleIndexed(snapshot, _index) is { } again)
                {
                    return again;
                }

                _index = null;
            }
        }

        return SchedulePlain(snapshot);
    }

    /// <summary>
    /// The plain walk: every waiting job ranked and sorted afresh. The indexed walk must decide exactly
    /// this; change the two together.
    /// </summary>
    private SchedulingDecisions SchedulePlain(ClusterSnapshot snapshot)
    {
        var now = snapshot.Now;
        DateTimeOffset? wake = null;
        void WakeAt(DateTimeOffset at)
        {
            if (at > now && (wake is null || at < wake))
            {
                wake = at;
            }
        }

        // 1. Waiting jobs with their queue (promotion applied).
        var queues = Options.QueueThresholdsGpuSeconds.Count + 1;
        var bestWaitingQueue = queues;
        var waiting = new List<Ranked>(snapshot.Queued.Count);
        foreach (var job in snapshot.Queued)
        {
            var queue = QueueOf(Service(job, now, out var promoteAt));
            if (promoteAt is { } at && queue > 0)
            {
                if (at <= now)
                {
                    queue = 0;
                }
                else
                {
                    WakeAt(at);
                }
            }

            waiting.Add(new Ranked(job, queue));
            bestWaitingQueue = Math.Min(bestWaitingQueue, queue);
        }

        // 2. Running jobs that could be preempted, with their queue; those stopping or not preemptible
        //    keep what they have. A running job crossing a threshold matters only when it then ranks
        //    below a waiting job, so only such crossings ask for a pass (each pass costs a replay).
        var victims = RankRunning(snapshot, bestWaitingQueue, WakeAt, out var freeGpus, out var victimGpusInQueue);

        // 3. Without reasons to give, a pass where no waiting job could have room (what is free plus
        //    what running jobs of worse queues hold) decides nothing: skip building the placement view,
        //    which is most of a pass's cost (a replay makes hundreds of thousands of passes).
        if (!snapshot.ExplainPending && !AnyCouldStart(waiting, freeGpus, victimGpusInQueue))
        {
            return new SchedulingDecisions([], [], []) { NextPassAt = wake };
        }

        var pass = new QueuePass(snapshot);
        waiting.Sort(BetterFirst);

        // Victims are taken worst first: the deepest queue, then the latest submission.
        victims.Sort(BetterFirst);
        victims.Reverse();

        // 4. Walk the waiting jobs best first. One that fits starts. One that does not may take the GPUs
        //    of running jobs in strictly worse queues, if that makes it fit now.
        //    Without reasons to give, a job larger than what is free plus what worse-queue victims hold
        //    cannot start; skipping it saves a placement per waiting job per pass (a replay's queue
        //    holds thousands).
        freeGpus = FreeAccelerators(pass);
        for (var i = 0; i < waiting.Count; i++)
        {
            var (job, queue) = waiting[i];
            var position = i + 1;
            var needs = QueuePass.Accelerators(job.Spec);
            var reclaimable = 0;
            for (var q = queue + 1; q < queues; q++)
            {
                reclaimable += victimGpusInQueue[q];
            }

            if (!pass.Explain && needs > freeGpus + reclaimable)
            {
                continue;
            }

            if (pass.ProjectProblem(job, out _) is { } problem)
            {
                pass.Pend(job, problem, position);
                continue;
            }

            GangResult? result = null;
            if ((needs <= freeGpus || pass.Explain) && pass.TryStart(job, out result))
            {
                freeGpus -= needs;
                continue;
            }

            var chosen = reclaimable > 0 ? ChooseVictims(pass, job, queue, victims, now, WakeAt) : [];
            if (chosen.Count == 0)
            {
                if (pass.Explain)
                {
                    var placed = result ?? pass.Placer.PlaceGang(pass.Free, job.Spec);
                    pass.Pend(job, $"{pass.NoRoom(job, placed)} (las: queue {queue})", position, placed.Rejections);
                }

                continue;
            }

            foreach (var victim in chosen)
            {
                var index = victims.FindIndex(v => v.Job.Id == victim.Id);
                victimGpusInQueue[victims[index].Queue] -= QueuePass.Accelerators(victim.Spec);
                victims.RemoveAt(index);
                pass.Preemptions.Add(new PreemptDecision(victim.Id, job.Id, $"preempted by job {job.Id}, which has attained less service (las)"));
            }

            freeGpus = FreeAccelerators(pass);
            pass.Pend(job, PendingReasons.WaitingForStops(chosen.Select(v => v.Id), allPreempted: true), position);
        }

        return pass.Decisions(wake);
    }

    /// <summary>
    /// As <see cref="SchedulePlain"/>, with the waiting jobs taken from <paramref name="index"/> in rank
    /// order instead of ranked and sorted afresh, and a queue level and shape left for the pass once one
    /// of its jobs can neither start nor take victims' GPUs: room only shrinks during a pass, so no later
    /// job of that level and shape could. Null when the index turned out to be out of step with the queue.
    /// </summary>
    private SchedulingDecisions? ScheduleIndexed(ClusterSnapshot snapshot, LasQueueIndex index)
    {
        var now = snapshot.Now;
        DateTimeOffset? wake = null;
        void WakeAt(DateTimeOffset at)
        {
            if (at > now && (wake is null || at < wake))
            {
                wake = at;
            }
        }

        if (index.NextPromotion is { } promotion)
        {
            WakeAt(promotion);
        }

        var queues = index.Queues;
        _running ??= new LasRunningIndex(this);
        var running = _running.Advance(snapshot) ? _running : null;
        List<Ranked>? victims;
        int freeGpus;
        int[] victimGpusInQueue;
        if (running is not null)
        {
            if (running.EarliestCrossing(index.BestQueue) is { } crossing)
            {
                WakeAt(crossing);
            }

            freeGpus = running.FreeGpus;
            victimGpusInQueue = CopyOf(running.VictimGpus, ref _victimGpusScratch);
            victims = null;
        }
        else
        {
            victims = RankRunning(snapshot, index.BestQueue, WakeAt, out freeGpus, out victimGpusInQueue, _runningService);
        }

        int Reclaimable(int queue)
        {
            var reclaimable = 0;
            for (var q = queue + 1; q < queues; q++)
            {
                reclaimable += victimGpusInQueue[q];
            }

            return reclaimable;
        }

        var any = false;
        for (var q = 0; q < queues && !any; q++)
        {
            any = index.MinNeeds(q) is var least && least != int.MaxValue && least <= freeGpus + Reclaimable(q);
        }

        if (!any)
        {
            return new SchedulingDecisions([], [], []) { NextPassAt = wake };
        }

        var pass = new QueuePass(snapshot);
        victims?.Sort(BetterFirst);
        victims?.Reverse();
        freeGpus = FreeAccelerators(pass);
        var preempted = _preemptedScratch;
        preempted.Clear();

        // Victims worst first (deepest queue, then latest submission), as ChooseVictims walks them.
        List<Ranked> VictimList() => victims ??= [.. running!.WorseThan(-1).Select(v => new Ranked(v.Job, v.Queue))];

        // Per queue, the GPUs of victims past their minimum run and when the first of the others gets
        // there: a job that needs more than is free plus the ripe victims' GPUs of worse queues cannot take
        // victims, which ChooseVictims would find only after releasing each of them in turn.
        var ripeGpusInQueue = running is null ? new int[queues] : CopyOf(running.RipeGpus, ref _ripeGpusScratch);
        if (_firstRipeScratch.Length != queues)
        {
            _firstRipeScratch = new DateTimeOffset?[queues];
        }

        var firstRipeInQueue = _firstRipeScratch;
        for (var q = 0; q < queues; q++)
        {
            firstRipeInQueue[q] = running?.FirstRipening(q);
        }

        foreach (var (victim, victimQueue) in running is null ? victims! : [])
        {
            var ripeAt = (victim.CurrentAttempt?.StartedAt ?? now) + Options.MinRunBeforePreemption;
            if (ripeAt > now)
            {
                firstRipeInQueue[victimQueue] = firstRipeInQueue[victimQueue] is { } f && f < ripeAt ? f : ripeAt;
            }
            else
            {
                ripeGpusInQueue[victimQueue] += QueuePass.Accelerators(victim.Spec);
            }
        }

        // The accelerators free on any node, whatever its state: counted again only once the pass has
        // changed what is free (a start or a promise), not for every job that looks for victims.
        int? freeAnyState = null;
        bool CannotTakeVictims(int needs, int queue)
        {
            var ripe = 0;
            for (var q = queue + 1; q < queues; q++)
            {
                ripe += ripeGpusInQueue[q];
            }

            if ((freeAnyState ??= FreeAcceleratorsAnyState(pass.Free)) + ripe >= needs)
            {
                return false;
            }

            WakeForFirstUnripe(queue);
            return true;
        }

        // A search that found no victims asks for a pass when the first victim still inside its minimum run gets out.
        void WakeForFirstUnripe(int queue)
        {
            for (var q = queue + 1; q < queues; q++)
            {
                if (firstRipeInQueue[q] is { } at)
                {
                    WakeAt(at);
                }
            }
        }

        // The counting victim search; the reference policy of the tests keeps the placing one.
        var search = PlaceEveryVictimTrial ? null : running is not null
            ? SearchFor(pass, RunningWorseThan(running), RunningIsRipe(running), running)
            : SearchFor(pass, q => victims!.TakeWhile(v => v.Queue > q).Select(v => (v.Job, v.Queue)), v => IsRipeAt(v, now), null);

        // Shapes that could neither start nor take victims' GPUs at some level: at a worse level there
        // are only fewer victims to take, and room only shrinks, so they are done for the pass.
        var exhausted = _exhausted;
        exhausted.Clear();
        LasQueueIndex.Visit Visit(Job job, int queue)
        {
            if (exhausted.Contains((job.Spec.Resources, job.Spec.Replicas)))
            {
                return LasQueueIndex.Visit.ShapeExhausted;
            }

            if (pass.ProjectProblem(job, out _) is not null)
            {
                return LasQueueIndex.Visit.Skipped;
            }

            var needs = QueuePass.Accelerators(job.Spec);
            if (needs <= freeGpus && (search is null || search.MayPlaceNow(job)) && pass.TryStart(job, out _))
            {
                freeGpus -= needs;
                freeAnyState = null;
                return LasQueueIndex.Visit.Started;
            }

            var chosen = NoVictims;
            if (Reclaimable(queue) > 0 && !CannotTakeVictims(needs, queue))
            {
                if (search?.Choose(job, queue) is { } found)
                {
                    chosen = found;
                    if (found.Count == 0)
                    {
                        WakeForFirstUnripe(queue);
                    }
                }
                else
                {
                    chosen = ChooseVictims(pass, job, queue, VictimList(), now, WakeAt);
                }
            }

            if (chosen.Count == 0)
            {
                exhausted.Add((job.Spec.Resources, job.Spec.Replicas));
                return LasQueueIndex.Visit.ShapeExhausted;
            }

            freeAnyState = null;

            foreach (var victim in chosen)
            {
                var victimQueue = TakeVictim(victim);
                victimGpusInQueue[victimQueue] -= QueuePass.Accelerators(victim.Spec);
                ripeGpusInQueue[victimQueue] -= QueuePass.Accelerators(victim.Spec);
                pass.Preemptions.Add(new PreemptDecision(victim.Id, job.Id, $"preempted by job {job.Id}, which has attained less service (las)"));
                preempted.Add(victim);
            }

            freeGpus = FreeAccelerators(pass);
            return LasQueueIndex.Visit.Skipped;
        }

        // Takes the victim out of the victims (and the running index, as if it had stopped); returns its queue.
        int TakeVictim(Job victim)
        {
            var victimQueue = -1;
            if (victims is not null)
            {
                var at = victims.FindIndex(v => v.Job.Id == victim.Id);
                victimQueue = victims[at].Queue;
                search?.Taken(victim, victimQueue);
                victims.RemoveAt(at);
            }

            if (running is not null)
            {
                victimQueue = running.Take(victim);
            }

            return victimQueue;
        }

        if (!index.Walk(q => freeGpus + Reclaimable(q), Visit))
        {
            // Victims already taken left the running index: build it again next time.
            _running = null;
            return null;
        }

        index.Preempted(preempted);
        var decisions = pass.Decisions(wake);
        pass.Free.Recycle();
        return decisions;
    }

    /// <summary>
    /// Running jobs that could be preempted, with their queue (those stopping or not preemptible keep
    /// what they have), the accelerators free on ready nodes, and the preemptible GPUs per queue. A
    /// running job crossing a threshold matters only when it then ranks below a waiting job, so only such
    /// crossings ask for a pass (each pass costs a replay).
    /// </summary>
    private List<Ranked> RankRunning(ClusterSnapshot snapshot, int bestWaitingQueue, Action<DateTimeOffset> wakeAt, out int freeGpus, out int[] victimGpusInQueue,
        RunningService? running = null)
    {
        var now = snapshot.Now;
        var queues = Options.QueueThresholdsGpuSeconds.Count + 1;
        var victims = new List<Ranked>(snapshot.Running.Count);
        freeGpus = 0;
        foreach (var node in snapshot.Nodes)
        {
            if (node.State == Core.Cluster.NodeState.Ready)
            {
                foreach (var (_, count) in node.Allocatable.Accelerators)
                {
                    freeGpus += count;
                }
            }
        }

        victimGpusInQueue = new int[queues];
        running?.BeginPass();
        foreach (var job in snapshot.Running)
        {
            var gpus = running is null ? QueuePass.Accelerators(job.Spec) : running.Gpus(job);
            freeGpus -= gpus;
            if (job.Stop is not null || !job.Spec.Preemptible)
            {
                continue;
            }

            var service = running is null ? Service(job, now, out _) : running.Service(this, job, gpus, now);
            var queue = QueueOf(service);
            if (queue < queues - 1 && gpus > 0 && bestWaitingQueue <= queue)
            {
                wakeAt(now.AddSeconds((Options.QueueThresholdsGpuSeconds[queue] - service) / gpus));
            }

            victims.Add(new Ranked(job, queue));
            victimGpusInQueue[queue] += gpus;
        }

        return victims;
    }

    // Per-queue counts an indexed pass changes as it takes victims, copied into these from the running
    // index on every pass rather than into new arrays (under _gate).
    private int[] _victimGpusScratch = [];
    private int[] _ripeGpusScratch = [];
    private DateTimeOffset?[] _firstRipeScratch = [];
    private readonly HashSet<(Core.Resources.ResourceVector, int)> _exhausted = [];

    // The victims an indexed pass took, handed to the queue index at its end (which copies them); reused from pass to pass.
    private readonly List<Job> _preemptedScratch = [];

    // No victims (never added to): a visit that takes none allocates no list.
    private static readonly List<Job> NoVictims = [];

    private static int[] CopyOf(int[] source, ref int[] scratch)
    {
        if (scratch.Length != source.Length)
        {
            scratch = new int[source.Length];
        }

        source.CopyTo(scratch, 0);
        return scratch;
    }

    // The victim search of the last indexed pass, whose per-node scratch the next pass reuses (under _gate).
    private VictimSearch? _search;

    // The running index's victim walk and ripeness as delegates, made once per index rather than on every pass (under _gate).
    private (LasRunningIndex Index, Func<int, IEnumerable<(Job Job, int Queue)>> WorseThan, Func<Job, bool> IsRipe)? _runningDelegates;

    private Func<int, IEnumerable<(Job Job, int Queue)>> RunningWorseThan(LasRunningIndex running) => RunningDelegates(running).WorseThan;

    private Func<Job, bool> RunningIsRipe(LasRunningIndex running) => RunningDelegates(running).IsRipe;

    private (LasRunningIndex Index, Func<int, IEnumerable<(Job Job, int Queue)>> WorseThan, Func<Job, bool> IsRipe) RunningDelegates(LasRunningIndex running)
    {
        if (_runningDelegates is not { } kept || !ReferenceEquals(kept.Index, running))
        {
            kept = (running, running.WorseThan, running.IsRipe);
            _runningDelegates = kept;
        }

        return kept;
    }

    private VictimSearch SearchFor(QueuePass pass, Func<int, IEnumerable<(Job Job, int Queue)>> worseThan, Func<Job, bool> isRipe, LasRunningIndex? running)
    {
        if (_search is null)
        {
            _search = new VictimSearch(this, pass, worseThan, isRipe, running);
        }
        else
        {
            _search.Reset(pass, worseThan, isRipe, running);
        }

        return _search;
    }

    private static bool AnyCouldStart(List<Ranked> waiting, int freeGpus, int[] victimGpusInQueue)
    {
        // reclaimable[q]: GPUs held by preemptible running jobs of queues worse than q.
        var reclaimable = new int[victimGpusInQueue.Length];
        for (var q = victimGpusInQueue.Length - 2; q >= 0; q--)
        {
            reclaimable[q] = reclaimable[q + 1] + victimGpusInQueue[q + 1];
        }

        foreach (var (job, queue) in waiting)
        {
            if (QueuePass.Accelerators(job.Spec) <= freeGpus + reclaimable[queue])
            {
                return true;
            }
        }

        return false;
    }

    private static int FreeAccelerators(QueuePass pass)
    {
        var free = 0;
        foreach (var node in pass.Free.NodeSpan)
        {
            if (node.Node.State == Core.Cluster.NodeState.Ready)
            {
                free += node.AllFreeAccelerators;
            }
        }

        return free;
    }

    // The accelerators free on any node of every type. Counted on every visit of a pass, so over the nodes'
    // array and their slots rather than through the list and type-name interfaces.
    private static int FreeAcceleratorsAnyState(FreeCapacity free)
    {
        var count = 0;
        foreach (var node in free.NodeSpan)
        {
            count += node.AllFreeAccelerators;
        }

        return count;
    }

    private static int BetterFirst(Ranked a, Ranked b)
    {
        var byQueue = a.Queue.CompareTo(b.Queue);
        if (byQueue != 0)
        {
            return byQueue;
        }

        var bySubmit = a.Job.SubmittedAt.CompareTo(b.Job.SubmittedAt);
        return bySubmit != 0 ? bySubmit : a.Job.Id.CompareTo(b.Job.Id);
    }

    /// <summary>
    /// The fewest running jobs of queues worse than <paramref name="queue"/> (worst first) whose stop lets
    /// <paramref name="job"/> fit, and promises the job that room; empty (and nothing promised) when even
    /// all of them would not do.
    /// </summary>
    private List<Job> ChooseVictims(QueuePass pass, Job job, int queue, List<Ranked> victims, DateTimeOffset now, Action<DateTimeOffset> wakeAt)
    {
        // A gang cannot fit in fewer accelerators than it needs, wherever they are: a placement is tried
        // only once what is free plus what the victims so far hold reaches that (a pass may ask this for
        // many waiting jobs, and each placement walks every node).
        var needs = QueuePass.Accelerators(job.Spec);
        var freeNow = FreeAcceleratorsAnyState(pass.Free);
        var released = 0;
        var future = pass.Free.Clone();
        var chosen = new List<Job>();
        var fits = false;
        DateTimeOffset? firstRipe = null;

        // A single-replica job fits where one node takes its replica, and only the nodes released victims
        // were on differ from the pass's free capacity: checking those instead of placing over every node
        // after each release was most of a LAS replay's time (victims are released one by one, and the
        // placement walked all nodes each time). Gangs of several replicas are counted instead (below).
        var single = job.Spec.Replicas == 1 && !PlaceEveryVictimTrial ? ReplicaRequest.For(job.Spec.Resources) : null;
        bool? fitsBefore = null;
        var touchedAccepts = false;
        bool FitsSingle(ref bool? before, bool touched)
        {
            before ??= AnyNodeAccepts(pass.Placer, pass.Free, single!);
            return before.Value || touched;
        }

        // A gang of identical replicas fits exactly when the nodes together hold as many replicas as it
        // has: each replica placed takes one replica's worth from one node (resources add up), so placing
        // them one by one can only stop when that count runs out. The count is kept up to date from the
        // nodes each released victim was on.
        var gang = job.Spec.Replicas > 1 && !PlaceEveryVictimTrial ? ReplicaRequest.For(job.Spec.Resources) : null;
        int? gangRoomBefore = null;
        var gangRoomGained = 0;
        bool FitsGang(ref int? before, int gained)
        {
            before ??= ReplicasFit(pass.Placer, pass.Free, gang!, job.Spec.Replicas);
            return before.Value + gained >= job.Spec.Replicas;
        }

        foreach (var (candidate, candidateQueue) in victims)
        {
            if (candidateQueue <= queue)
            {
                break;
            }

            // A victim still inside its minimum run is not taken now; the pass after its floor may.
            var ripeAt = (candidate.CurrentAttempt?.StartedAt ?? now) + Options.MinRunBeforePreemption;
            if (ripeAt > now)
            {
                firstRipe = firstRipe is { } f && f < ripeAt ? f : ripeAt;
                continue;
            }

            if (gang is not null)
            {
                gangRoomGained -= ReplicasFitOnNodesOf(pass.Placer, future, gang, job.Spec.Replicas, candidate);
            }

            future.Release(candidate);
            chosen.Add(candidate);
            released += QueuePass.Accelerators(candidate.Spec);
            if (gang is not null)
            {
                gangRoomGained += ReplicasFitOnNodesOf(pass.Placer, future, gang, job.Spec.Replicas, candidate);
            }

            if (single is not null)
            {
                // A node only gains room as victims are released, so one that took the replica after an
                // earlier release still takes it: checking the nodes this victim was on is enough.
                touchedAccepts = touchedAccepts || AcceptsOnNodesOf(pass.Placer, future, single, candidate);
            }

            if (freeNow + released >= needs && (single is not null ? FitsSingle(ref fitsBefore, touchedAccepts)
                    : gang is not null ? FitsGang(ref gangRoomBefore, gangRoomGained) : pass.Placer.Fits(future, job.Spec)))
            {
                fits = true;
                break;
            }
        }

        if (!fits)
        {
            if (firstRipe is { } ripe)
            {
                wakeAt(ripe);
            }

            return [];
        }

        // Spare, best-ranked first, every victim the job can do without.
        for (var i = chosen.Count - 2; i >= 0; i--)
        {
            var without = QueuePass.Accelerators(chosen[i].Spec);
            if (freeNow + released - without < needs)
            {
                continue;
            }

            var trial = pass.Free.Clone();
            var trialAccepts = false;
            for (var v = 0; v < chosen.Count; v++)
            {
                if (v != i)
                {
                    trial.Release(chosen[v]);
                }
            }

            if (single is not null)
            {
                for (var v = 0; v < chosen.Count && !trialAccepts; v++)
                {
                    trialAccepts = v != i && AcceptsOnNodesOf(pass.Placer, trial, single, chosen[v]);
                }
            }

            var trialGained = 0;
            if (gang is not null)
            {
                var others = chosen.Where((_, v) => v != i).ToList();
                trialGained = ReplicasFitOnNodesOf(pass.Placer, trial, gang, job.Spec.Replicas, others)
                    - ReplicasFitOnNodesOf(pass.Placer, pass.Free, gang, job.Spec.Replicas, others);
            }

            if (single is not null ? FitsSingle(ref fitsBefore, trialAccepts)
                : gang is not null ? FitsGang(ref gangRoomBefore, trialGained) : pass.Placer.Fits(trial, job.Spec))
            {
                chosen.RemoveAt(i);
                released -= without;
            }
        }

        var promised = pass.Free.Clone();
        foreach (var victim in chosen)
        {
            promised.Release(victim);
        }

        pass.Placer.PlaceGang(promised, job.Spec, countRejections: false);
        pass.Free.RestrictTo(promised);
        return chosen;
    }

    private static bool AnyNodeAccepts(Placer placer, FreeCapacity free, ReplicaRequest replica)
    {
        foreach (var node in free.Nodes)
        {
            if (placer.Accepts(node, replica))
            {
                return true;
            }
        }

        return false;
    }

    // Replicas of one shape that the nodes of free could take together, each node counted up to most.
    private static int ReplicasFit(Placer placer, FreeCapacity free, ReplicaRequest replica, int most)
    {
        var count = 0;
        foreach (var node in free.Nodes)
        {
            count += ReplicasFit(placer, node, replica, most);
        }

        return count;
    }

    private static int ReplicasFitOnNodesOf(Placer placer, FreeCapacity free, ReplicaRequest replica, int most, Job victim) =>
        ReplicasFitOnNodesOf(placer, free, replica, most, [victim]);

    // As ReplicasFit, over the distinct nodes the victims' current placements are on.
    private static int ReplicasFitOnNodesOf(Placer placer, FreeCapacity free, ReplicaRequest replica, int most, IReadOnlyList<Job> victims)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var count = 0;
        foreach (var victim in victims)
        {
            var victimPlacement = victim.CurrentAttempt?.Placement ?? [];
            for (var at = 0; at < victimPlacement.Count; at++)
            {
                var placed = victimPlacement[at];
                if (seen.Add(placed.Node) && free.Find(placed.Node) is { } node)
                {
                    count += ReplicasFit(placer, node, replica, most);
                }
            }
        }

        return count;
    }

    // How many replicas the node could take one after another: none unless the placer accepts one, then
    // as many as every requested resource allows (taking a replica takes exactly its request).
    private static int ReplicasFit(Placer placer, NodeFree node, ReplicaRequest replica, int most)
    {
        if (!placer.Accepts(node, replica))
        {
            return 0;
        }

        long count = most;
        if (replica.CpuMillis > 0)
        {
            count = Math.Min(count, node.CpuMillis / replica.CpuMillis);
        }

        if (replica.MemoryBytes > 0)
        {
            count = Math.Min(count, node.MemoryBytes / replica.MemoryBytes);
        }

        for (var t = 0; t < replica.Types.Count; t++)
        {
            if (replica.Counts[t] > 0)
            {
                count = Math.Min(count, node.FreeAccelerators(replica.Types[t]) / replica.Counts[t]);
            }
        }

        return (int)count;
    }

    private static bool AcceptsOnNodesOf(Placer placer, FreeCapacity free, ReplicaRequest replica, Job victim)
    {
        var victimPlacement = victim.CurrentAttempt?.Placement ?? [];
        for (var at = 0; at < victimPlacement.Count; at++)
        {
            var placed = victimPlacement[at];
            if (free.Find(placed.Node) is { } node && placer.Accepts(node, replica))
            {
                return true;
            }
        }

        return false;
    }

    internal int QueueOf(double service)
    {
        var thresholds = Options.QueueThresholdsGpuSeconds;
        var queue = 0;
        while (queue < thresholds.Count && service >= thresholds[queue])
        {
            queue++;
        }

        return queue;
    }

    /// <summary>
    /// <see cref="Service"/>'s sum over every attempt but the last, with the promotion reset the last
    /// attempt's start may bring: adding the last attempt's GPU-seconds to it gives what Service gives.
    /// </summary>
    internal double? ServiceBeforeLastAttempt(Job job)
    {
        // Only a job whose earlier attempts all ended has a fixed service before its last one. A plain loop: a
        // job preempted hundreds of times is asked on every start, and a LINQ walk's delegate per attempt showed.
        var attempts = job.Attempts;
        if (attempts.Count == 0)
        {
            return null;
        }

        for (var a = 0; a < attempts.Count - 1; a++)
        {
            if (attempts[a].EndedAt is null)
            {
                return null;
            }
        }

        return Attained(job, default, stopBefore: job.Attempts.Count - 1).Service;
    }

    /// <summary>
    /// GPU-seconds attained since the job was last promoted, and for a job waiting in a lower queue,
    /// when it will be (or was) promoted: after waiting <see cref="LasOptions.PromoteKnob"/> times as
    /// long as it has run since its last promotion. A gap between attempts that long was a promotion,
    /// so the count restarts there. Only jobs below queue 0 are promoted, and the wait grows with the
    /// run time, so a job preempted moments after it started cannot bounce straight back.
    /// </summary>
    internal double Service(Job job, DateTimeOffset now, out DateTimeOffset? promoteAt)
    {
        promoteAt = null;
        var (service, ran, lastEnd) = Attained(job, now, stopBefore: job.Attempts.Count);
        var knob = Options.PromoteKnob;
        if (job.State.IsQueued() && lastEnd is { } waitingSince && knob > 0 && QueueOf(service) > 0 && ran > TimeSpan.Zero)
        {
            promoteAt = waitingSince + ran * knob;
        }

        return service;
    }

    /// <summary>
    /// The attempts' GPU-seconds in order (a running one up to <paramref name="now"/>), back to zero at an
    /// attempt that started after a wait long enough for starvation promotion; stops before adding attempt
    /// <paramref name="stopBefore"/> (whose start may still reset). Also the time run since the last reset
    /// and when the last counted attempt ended.
    /// </summary>
    private (double Service, TimeSpan Ran, DateTimeOffset? LastEnd) Attained(Job job, DateTimeOffset now, int stopBefore)
    {
        var thresholds = Options.QueueThresholdsGpuSeconds;
        var first = thresholds.Count > 0 ? thresholds[0] : double.PositiveInfinity;
        var gpus = QueuePass.Accelerators(job.Spec);
        if (!_gate.IsHeldByCurrentThread)
        {
            return AttainedService.Walk(job, gpus, Options.PromoteKnob, first, stopBefore, now);
        }

        // A replay (under the gate): resume from what the walk had after this job's ended attempts last time.
        // A job preempted hundreds of times is walked again on every start and every ranking otherwise.
        var attempts = job.Attempts;
        var from = 0;
        (double Service, TimeSpan Ran, DateTimeOffset? LastEnd) state = (0, TimeSpan.Zero, null);
        if (_walks.TryGetValue(job.Id, out var kept) && kept.Count <= stopBefore && kept.Count <= attempts.Count
            && ReferenceEquals(attempts[kept.Count - 1], kept.Last))
        {
            (from, state) = (kept.Count, kept.State);
        }

        // The ended attempts before stopBefore first; when they are all of the job's attempts, the state after
        // them is kept for the next walk of this job. (With an attempt after them the walk has already checked
        // that attempt's start for a reset, which an older version of the job, without it, must not inherit; the
        // check is repeated harmlessly below.)
        var ended = from;
        while (ended < Math.Min(stopBefore, attempts.Count) && attempts[ended].EndedAt is not null)
        {
            ended++;
        }

        if (ended > from)
        {
            state = AttainedService.Walk(job, gpus, Options.PromoteKnob, first, ended, now, from, state);
            if (ended == attempts.Count)
            {
                if (_walks.Count >= MaxWalks)
                {
                    _walks.Clear();
                }

                _walks[job.Id] = new KeptWalk(attempts[ended - 1], ended, state);
            }

            from = ended;
        }

        return AttainedService.Walk(job, gpus, Options.PromoteKnob, first, stopBefore, now, from, state);
    }

    // Past this many jobs the kept walks start again (a long replay keeps one per job it saw).
    private const int MaxWalks = 1 << 18;

    // Per job id: the walk's state after its first Count attempts, all ended, the last of them Last (attempts are
    // only appended, and one is replaced only by its ended copy, so the same object there means the same
    // attempts before it). Used under _gate only.
    private readonly Dictionary<long, KeptWalk> _walks = [];

    private sealed record KeptWalk(JobAttempt Last, int Count, (double Service, TimeSpan Ran, DateTimeOffset? LastEnd) State);

    private readonly record struct Ranked(Job Job, int Queue);

    /// <summary>
    /// Each running job's GPUs and the service it had when its current attempt started (after any
    /// promotion reset), kept per job object from pass to pass: a job preempted many times has many
    /// attempts, and summing them for every running job on every pass was most of a LAS replay's time.
    /// Only jobs running in the last pass are kept.
    /// </summary>
    internal sealed class RunningService
    {
        private Dictionary<long, Entry> _last = [];
        private Dictionary<long, Entry> _now = [];

        public void BeginPass()
        {
            (_last, _now) = (_now, _last);
            _now.Clear();
        }

        public int Gpus(Job job) => Get(job).Gpus;

        /// <summary>What <see cref="LasPolicy.Service"/> returns for the running job: the same sums in the same order.</summary>
        public double Service(LasPolicy policy, Job job, int gpus, DateTimeOffset now)
        {
            var entry = Get(job);
            if (entry.Base is null)
            {
                entry.Base = policy.ServiceBeforeLastAttempt(job) ?? double.NaN;
            }

            if (double.IsNaN(entry.Base.Value))
            {
                return policy.Service(job, now, out _);
            }

            var attempt = job.Attempts[^1];
            return entry.Base.Value + gpus * ((attempt.EndedAt ?? now) - attempt.StartedAt).TotalSeconds;
        }

        private Entry Get(Job job)
        {
            if (_now.TryGetValue(job.Id, out var found) && ReferenceEquals(found.Job, job))
            {
                return found;
            }

            if (!_last.TryGetValue(job.Id, out found) || !ReferenceEquals(found.Job, job))
            {
                found = new Entry(job, QueuePass.Accelerators(job.Spec));
            }

            _now[job.Id] = found;
            return found;
        }

        private sealed class Entry(Job job, int gpus)
        {
            public Job Job { get; } = job;

            public int Gpus { get; } = gpus;

            // Null until worked out; NaN when the job's attempts do not allow it (Service is used then).
            public double? Base { get; set; }
        }
    }
}

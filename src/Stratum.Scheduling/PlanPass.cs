using System.Globalization;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

/// <summary>
/// One run of a planning policy over one snapshot. Steps, in order: (1) free capacity once, in flat
/// arrays with a bucket index; (2) queue order, merged from groups kept between passes; (3) each job in order: quota
/// (cohort borrowing), placement, else reclaim of borrowed quota or priority preemption, else a
/// reservation (EASY backfill) for the first blocked job; (4) estimated starts from the plan.
/// Jobs of one shape (resources per replica, replicas, node selector) that failed to place fail again
/// without another node scan: capacity only shrinks during a pass (Kubernetes' equivalence classes,
/// Slurm's skipping of jobs like one that failed).
/// With service bands (<see cref="PlanningOptions.ServiceBandsGpuSeconds"/>) the order within a priority is
/// least attained service first, a blocked job may also preempt same-priority jobs of worse bands, and the
/// pass asks for the next one (<see cref="SchedulingDecisions.NextPassAt"/>) when a band may change.
/// </summary>
internal sealed partial class PlanPass
{
    private static readonly IReadOnlyDictionary<string, int> NoRejections = new Dictionary<string, int>();
    private static readonly HashSet<string> NoMates = new(StringComparer.Ordinal);

    // The reason a pass that explains nothing (a replay) records: composing the words for every shape that
    // found no room, over every node, was a sixteenth of a replay's time, for text nobody reads.
    private const string Unexplained = "(not explained)";

    private readonly ClusterSnapshot _snapshot;
    private readonly PlanningOptions _options;
    private readonly CapacityIndex _index;
    private readonly QuotaLedger _quota;
    private readonly CapacityIndex.LayoutCache _layouts;
    private readonly Dictionary<ResourceVector, ReplicaRequest> _requests;
    private readonly Scratch _scratch;
    // Both lent by the pass before (cleared), as are the other working tables of Scratch.
    private readonly Dictionary<ShapeKey, (string Reason, IReadOnlyDictionary<string, int> Rejections)> _failed;
    // Per shape, priority and project (or "" when the project makes no difference): the best band at which
    // no victims made room this pass. A worse band has fewer victims and room only shrinks, so it fails too.
    private readonly Dictionary<(int Shape, int Priority, int Project), int> _noPreemption;
    private readonly HashSet<long> _promised = [];

    // What the last TakeGang took: node numbers, device indices and (with a shadow) the shadow's amounts, by rank.
    private readonly List<int> _gangNodes;
    private readonly List<int[]> _gangDevices;
    private readonly List<int[]> _gangShadow;

    // The what-if copies of the capacity this pass made (CopyOfIndex), handed to the next pass when it ends.
    private readonly List<CapacityIndex> _copies;
    private readonly List<StartDecision> _starts = [];
    private readonly List<(Job Job, ReplicaRequest Replica, IReadOnlyList<ReplicaPlacement> Placement)> _started = [];
    private readonly List<PreemptDecision> _preemptions = [];
    private readonly List<Waiting> _waiting;

    // The last pass's pending decisions and canonical reasons (null when not explaining, or without shortcuts).
    private readonly PendingMemory.Pass? _pending;

    // The EASY reservation: the first job that could not start, when it will, and the free capacity at
    // that time less its placement (the shadow). Later jobs that would still run then must fit the shadow.
    private Reservation? _reservation;
    private bool _reservationTried;

    // Outcomes of full decisions by class, valid while _epoch (moved by every start, preemption and
    // reservation) stays where it was when they were recorded.
    private Outcome[] _decided = [];
    private Dictionary<long, Outcome>? _decidedBeyond;
    private long _epoch;

    // Starts and promised room so far in this pass: what was explained from untouched capacity holds only at 0.
    private int _indexChanges;
    private (string Reason, IReadOnlyDictionary<string, int> Rejections, bool Blocked)? _lastWait;

    // By project slot of the queue index: whether the project's jobs are decided by their class without the project.
    private bool[]? _neutral;

    // Built on the first preemption question: running jobs already stopping, and the rest in victim order.
    private List<int>? _stopping;
    private bool _victimsOrdered;
    private int _victimCount;
    private int _victimHeap;
    private int _victimTaken;
    private int _preemptors;
    private Dictionary<string, HashSet<string>>? _mates;
    private long _matesVersion = -1;

    // Quota usage as it will be once this pass's victims have stopped: who borrows (reclaim, guaranteed
    // shares) is judged on it. Admission uses _quota, where victims still count until they are gone, so a
    // later job of a victim's project cannot start on quota the victim still holds. Built on first use.
    private QuotaLedger? _afterStops;

    // Service bands (null without them; running jobs' bands are in the running table): the bands of jobs left
    // blocked for room, and the best of them; the earliest time a band may change what should run.
    private readonly AttainedService? _service;
    private Dictionary<string, bool>? _inCohort;
    private readonly bool[] _blockedBands;
    private int _bestBlockedBand = int.MaxValue;
    private DateTimeOffset? _wake;

    public PlanPass(ClusterSnapshot snapshot, PlanningOptions options, CapacityIndex.LayoutCache layouts, AttainedService? service)
    {
        _snapshot = snapshot;
        _options = options;
        _service = service;
        _service?.BeginPass();
        _blockedBands = new bool[_service?.Bands ?? 1];
        _layouts = layouts;
        _scratch = layouts.TakeScratch() ?? new Scratch();
        _requests = _scratch.Requests;
        // Tables that grow with what a long-lived server sees start again between passes (never during one: the
        // pass's keys hold their numbers); what is kept by class number goes with them (RequestsCleared).
        if (_requests.Count > Scratch.MaxRequests || _scratch.ShapeNumbers.Count > Scratch.MaxShapes || _scratch.ProjectNumbers.Count > Scratch.MaxShapes)
        {
            _requests.Clear();
            _scratch.ShapeNumbers.Clear();
            _scratch.ProjectNumbers.Clear();
            _scratch.RequestsCleared++;
        }

        _epoch = _scratch.NextEpoch;
        _failed = _scratch.Failed;
        _failed.Clear();
        _gangNodes = _scratch.GangNodes;
        _gangDevices = _scratch.GangDevices;
        _gangShadow = _scratch.GangShadow;
        _copies = _scratch.Copies;
        _copies.Clear();
        _noPreemption = _scratch.NoPreemption;
        _noPreemption.Clear();

        // 100,000 waiting jobs are a 5 MB list: lent by the pass before rather than allocated in each.
        _waiting = _scratch.Waiting;
        _waiting.Clear();
        _index = CapacityIndex.Build(snapshot.Nodes, snapshot.Running, _requests, layouts, snapshot.Capacity, out var state,
            _scratch.Spares.Count > 0 ? _scratch.Spares[^1] : null);
        if (_scratch.Spares.Count > 0 && ReferenceEquals(_index, _scratch.Spares[^1]))
        {
            _scratch.Spares.RemoveAt(_scratch.Spares.Count - 1);
        }

        if (!ReferenceEquals(_scratch.NoRoomState, state))
        {
            _scratch.NoRoom.Clear();
            _scratch.NoRoomState = state;
        }

        _quota = new QuotaLedger(snapshot, layouts);
        _pending = snapshot.ExplainPending && PassShortcuts.Enabled ? layouts.Memory.Pending.Begin() : null;
    }

    public SchedulingDecisions Run()
    {
        var (longWay, longWayBands, count) = Order();

        // Room for the outcomes of the classes numbered so far, so the table does not grow by copies.
        var outcomes = Math.Min(FlatOutcomes, _scratch.Queue.ClassCount * 2L * _blockedBands.Length);
        _decided = _scratch.Decided.Length >= outcomes ? _scratch.Decided : new Outcome[outcomes];
        _waiting.EnsureCapacity(_snapshot.ExplainPending ? count : 0);
        var queue = _scratch.Queue;
        for (var i = 0; i < count; i++)
        {
            if (longWay is not null)
            {
                DecideFully(longWay[i], i + 1, longWayBands![i]);
                continue;
            }

            queue.At(i, out var job, out var facts, out var band);
            Decide(job, facts, i + 1, band);
        }

        if (_service is not null)
        {
            WakeForBands();
        }

        var pending = _snapshot.ExplainPending ? Explain() : [];

        // Outcomes stamped in this pass never match the next one's epochs, which start past this one's.
        _scratch.Decided = _decided;
        _scratch.NextEpoch = _epoch + 1;

        // Every copy of the capacity made in this pass, and its own, are done with: lent to the next pass.
        _copies.Add(_index);
        foreach (var copy in _copies)
        {
            if (_scratch.Spares.Count < Scratch.MaxSpares)
            {
                _scratch.Spares.Add(copy);
            }
        }

        _waiting.Clear();
        _layouts.ReturnScratch(_scratch);
        return new SchedulingDecisions(_starts, _preemptions, pending) { NextPassAt = _wake };
    }

    /// <summary>
    /// The job's replica request and node selector key, kept by class number (<paramref name="jobClass"/>, -1 for
    /// none) while the class numbers and the request table stay the same: hashing a resource vector (a sorted map
    /// of accelerator names) for each of the 30 full decisions of a replay's pass was a twentieth of it.
    /// </summary>
    private (ReplicaRequest Replica, string Selector) RequestOf(Job job, int jobClass)
    {
        if (jobClass < 0)
        {
            return (CapacityIndex.Request(_requests, job.Spec.Resources), SelectorKey(job.Spec));
        }

        var known = _scratch.ClassRequests;
        if (!ReferenceEquals(_scratch.ClassRequestsFor, _scratch.Queue.Numbering) || _scratch.ClassRequestsCleared != _scratch.RequestsCleared)
        {
            Array.Clear(known);
            _scratch.ClassRequestsFor = _scratch.Queue.Numbering;
            _scratch.ClassRequestsCleared = _scratch.RequestsCleared;
        }

        if (jobClass >= known.Length)
        {
            known = _scratch.ClassRequests = new ClassRequest[Math.Max(jobClass + 1, known.Length * 2)];
        }

        ref var entry = ref known[jobClass];
        if (entry.Replica is null)
        {
            entry = new ClassRequest { Replica = CapacityIndex.Request(_requests, job.Spec.Resources), Selector = SelectorKey(job.Spec) };
        }

        return (entry.Replica, entry.Selector);
    }

    /// <summary>
    /// The key of <see cref="_noPreemption"/> for a shape, priority and project (null: any project), in numbers:
    /// hashing a shape's selector and a project name on each of the 30 preemption questions of a replay's pass
    /// cost more than the questions that ended there. A job class's numbers are kept beside its request (after
    /// <see cref="RequestOf"/> for the same class), others looked up.
    /// </summary>
    private (int Shape, int Priority, int Project) NoPreemptionKey(ShapeKey shape, int priority, string? project, int jobClass)
    {
        var numbers = _scratch.ShapeNumbers;
        int shapeNumber, projectNumber = -1;
        if (jobClass >= 0 && jobClass < _scratch.ClassRequests.Length && ReferenceEquals(_scratch.ClassRequests[jobClass].Replica, shape.Replica))
        {
            ref var entry = ref _scratch.ClassRequests[jobClass];
            ref var cached = ref shape.Shadowed ? ref entry.ShadowedShape : ref entry.Shape;
            if (cached == 0)
            {
                cached = Number(numbers, shape) + 1;
            }

            if (project is not null)
            {
                if (entry.Project == 0)
                {
                    entry.Project = Number(_scratch.ProjectNumbers, project) + 1;
                }

                projectNumber = entry.Project - 1;
            }

            return (cached - 1, priority, projectNumber);
        }

        shapeNumber = Number(numbers, shape);
        return (shapeNumber, priority, project is null ? -1 : Number(_scratch.ProjectNumbers, project));

        static int Number<T>(Dictionary<T, int> table, T key)
            where T : notnull
        {
            if (!table.TryGetValue(key, out var number))
            {
                number = table.Count;
                table[key] = number;
            }

            return number;
        }
    }

    /// <summary>A what-if copy of the pass's capacity, written into a copy an earlier pass is done with when there is one.</summary>
    private CapacityIndex CopyOfIndex()
    {
        var spares = _scratch.Spares;
        var spare = spares.Count > 0 ? spares[^1] : null;
        var copy = _index.Clone(spare);
        if (spare is not null && ReferenceEquals(copy, spare))
        {
            spares.RemoveAt(spares.Count - 1);
        }

        _copies.Add(copy);
        return copy;
    }

    /// <summary>Gives back at once a copy made by <see cref="CopyOfIndex"/> that nothing holds (a trial): a search may try a copy per victim.</summary>
    private void DoneWith(CapacityIndex copy)
    {
        if (_copies.Count > 0 && ReferenceEquals(_copies[^1], copy) && _scratch.Spares.Count < Scratch.MaxSpares)
        {
            _copies.RemoveAt(_copies.Count - 1);
            _scratch.Spares.Add(copy);
        }
    }

    private void WakeAt(DateTimeOffset at)
    {
        if (at > _snapshot.Now && (_wake is null || at < _wake))
        {
            _wake = at;
        }
    }

    /// <summary>
    /// When a running job could next become a victim for a job left blocked: when it crosses from the band
    /// of such a job into a worse one, or when its cooldown ends while it already is in a worse band than the
    /// best of them. A live server passes on a timer anyway; a replay moves time only to events and these.
    /// </summary>
    private void WakeForBands()
    {
        if (_bestBlockedBand == int.MaxValue)
        {
            return;
        }

        // From the table's flat columns: reading each running job's record on every pass was a tenth of a replay.
        var cutoff = (_snapshot.Now - _options.PreemptionCooldown).UtcTicks;
        var table = Table();
        for (var i = 0; i < table.Count; i++)
        {
            if (table.Stopping[i] || !table.Preemptible[i])
            {
                continue;
            }

            var band = table.BandAt(i);
            var gpus = table.GpusAt(i);
            if (!table.HasAttemptsAt(i))
            {
                continue;
            }

            if (band > _bestBlockedBand && table.StartedTicks[i] > cutoff)
            {
                WakeAt(table.Jobs[i].CurrentAttempt!.StartedAt + _options.PreemptionCooldown);
            }

            if (_blockedBands[band] && band < _service!.Bands - 1 && gpus > 0)
            {
                WakeAt(_snapshot.Now.AddSeconds(Math.Max(1, (_service.UpperBound(band) - table.ServiceAt(i)) / gpus)));
            }
        }
    }

    /// <summary>
    /// Queue order: effective priority descending, then submit time, then id. Effective priority is
    /// priority - fair-share penalty + aging; with service bands it is priority, then band (least attained
    /// service first), then -penalty + aging. Merged from the kept groups of <see cref="QueueOrderIndex"/>;
    /// without shortcuts, one sort of every job's key, which the merge must equal: then the jobs and their bands
    /// in order, else none (the merged order is read from the index, with each job's facts and band).
    /// </summary>
    private (Job[]? LongWay, int[]? LongWayBands, int Count) Order()
    {
        var penalties = _options.FairShare ? FairSharePenalties() : null;
        var nowTicks = _snapshot.Now.UtcTicks;
        if (!PassShortcuts.Enabled)
        {
            var jobs = _snapshot.Queued.ToArray();
            var keys = new OrderKey[jobs.Length];
            for (var i = 0; i < jobs.Length; i++)
            {
                var job = jobs[i];
                int? band = null;
                if (_service is not null)
                {
                    band = 0;
                    if (job.Attempts.Count > 0)
                    {
                        band = _service.WaitingBand(job, _snapshot.Now, out var promoteAt);
                        if (promoteAt is { } at)
                        {
                            WakeAt(at);
                        }
                    }
                }

                keys[i] = OrderKey.For(job.Spec.Priority, band, penalties?.GetValueOrDefault(job.Spec.Project) ?? 0, _options.AgingPerHour,
                    nowTicks, job.SubmittedAt.UtcTicks, job.Id);
            }

            Array.Sort(keys, jobs);
            return (jobs, [.. keys.Select(k => _service is null ? 0 : k.Band)], jobs.Length);
        }

        var index = _scratch.Queue;
        index.Follow(_snapshot.Queued, _snapshot.QueuedInSubmitOrder, _snapshot.Now, _service, DecisionClass);
        if (index.NextPromotion() is { } next)
        {
            WakeAt(next);
        }

        double[]? penaltyBySlot = null;
        if (penalties is not null)
        {
            if (_scratch.Penalties.Length < index.Projects.Count)
            {
                _scratch.Penalties = new double[Math.Max(index.Projects.Count, _scratch.Penalties.Length * 2)];
            }

            penaltyBySlot = _scratch.Penalties;
            for (var slot = 0; slot < index.Projects.Count; slot++)
            {
                penaltyBySlot[slot] = penalties.GetValueOrDefault(index.Projects[slot]);
            }
        }

        // Projects that cannot change a decision (they exist, have no quota, and no project is in a cohort) let jobs
        // of one shape share outcomes across projects: a replay's 15 projects otherwise decided each shape 15 times.
        if (_scratch.Neutral.Length < index.Projects.Count)
        {
            _scratch.Neutral = new bool[Math.Max(index.Projects.Count, _scratch.Neutral.Length * 2)];
        }

        _neutral = _scratch.Neutral;
        _anyCohort ??= AnyCohort();
        for (var slot = 0; slot < index.Projects.Count; slot++)
        {
            _neutral[slot] = !_anyCohort.Value && _quota.IsUnlimited(index.Projects[slot]);
        }

        return (null, null, index.Merge(penaltyBySlot, _options.AgingPerHour, nowTicks));
    }

    /// <summary>
    /// Each project's fair-share penalty in priority points, 0..<see cref="PlanningOptions.FairShareWeight"/>:
    /// the mean of its part of all decayed usage and its dominant-resource share of the cluster now.
    /// Projects have equal shares.
    /// </summary>
    private Dictionary<string, double> FairSharePenalties()
    {
        // Lent by the pass before: a replay asks on each of 200,000 passes.
        var penalties = _scratch.Penalty;
        penalties.Clear();
        var totalDecayed = 0.0;
        if (_snapshot.DecayedUsage is { } decayed)
        {
            foreach (var value in decayed.Values)
            {
                if (value > 0)
                {
                    totalDecayed += value;
                }
            }
        }

        // Dominant share in flat sums: adding resource vectors (sorted maps) for every node and running
        // job was a fifth of a pass over 10,000 nodes. Kept while the nodes and running jobs are the same objects.
        var (totalCpu, totalMemory, totalGpus) = _layouts.Memory.FairShare.Allocatable(_snapshot.Nodes);
        var usage = _layouts.Memory.FairShare.Used(_snapshot.Running, _snapshot.Capacity);

        foreach (var project in _snapshot.Projects)
        {
            var name = project.Name;
            var history = totalDecayed > 0 ? Math.Max(0, _snapshot.DecayedUsage!.GetValueOrDefault(name)) / totalDecayed : 0;
            var (cpu, memory, gpus) = usage.GetValueOrDefault(name);
            var now = FairShareFormula.DominantShare(cpu, memory, gpus, totalCpu, totalMemory, totalGpus);
            penalties[name] = FairShareFormula.Penalty(_options.FairShareWeight, history, now);
        }

        return penalties;
    }

    /// <summary>
    /// Decides one job, or repeats the outcome of an earlier job of the same <see cref="DecisionClass"/> when
    /// nothing has changed since (no start, preemption or reservation): the same inputs give the same wait,
    /// so 100,000 queued jobs of a few hundred classes cost a few hundred full decisions per pass.
    /// </summary>
    private void Decide(Job job, JobFacts facts, int position, int band)
    {
        // As EndsBefore, from the kept max runtime (which RuntimeEstimates.For answers first).
        // Without estimates the kept max runtime is all there is: the job record is not read (a cache miss per job).
        var shadowed = _reservation is { } reservation
            && !((facts.MaxRuntime ?? (_snapshot.RuntimeEstimates is null ? null : RuntimeEstimates.For(job, _snapshot.RuntimeEstimates))) is { } runtime
                && _snapshot.Now + runtime <= reservation.At);
        // By slot, stamped with the epoch they hold for (a tuple-keyed dictionary lookup per queued job cost more).
        var decidedBy = _neutral![facts.ProjectSlot] ? facts.Neutral : facts.Class;
        var slot = ((((long)decidedBy * 2) + (shadowed ? 1 : 0)) * _blockedBands.Length) + band;
        if (Known(slot, out var known))
        {
            Wait(job, facts.Id, position, known.Reason, known.Rejections, known.Blocked);
            return;
        }

        _lastWait = null;
        var epoch = _epoch;
        DecideFully(job, position, band, facts.Class);
        if (_epoch == epoch && _lastWait is { } outcome)
        {
            var recorded = new Outcome(epoch + 1, outcome.Reason, outcome.Rejections, outcome.Blocked);
            if (slot < FlatOutcomes)
            {
                if (slot >= _decided.Length)
                {
                    Array.Resize(ref _decided, (int)Math.Min(FlatOutcomes, Math.Max(slot + 1, _decided.Length * 2L)));
                }

                _decided[slot] = recorded;
            }
            else
            {
                (_decidedBeyond ??= [])[slot] = recorded;
            }
        }
    }

    // Slots below this live in a flat array; many classes (a queue of all-different jobs) spill into a dictionary.
    private const long FlatOutcomes = 1 << 16;

    private bool Known(long slot, out Outcome known)
    {
        if (slot < _decided.Length)
        {
            known = _decided[slot];
            return known.Stamp == _epoch + 1;
        }

        if (slot >= FlatOutcomes && _decidedBeyond is not null && _decidedBeyond.TryGetValue(slot, out known))
        {
            return known.Stamp == _epoch + 1;
        }

        known = default;
        return false;
    }

    /// <summary>A full decision's outcome for a class, valid while <see cref="_epoch"/> + 1 is <paramref name="Stamp"/>.</summary>
    internal readonly record struct Outcome(long Stamp, string Reason, IReadOnlyDictionary<string, int> Rejections, bool Blocked);

    /// <summary>
    /// Everything <see cref="DecideFully"/> reads from a job besides its id, queue position, runtime and band
    /// (the memo key adds the band, and whether the job would still run at the reservation, which is all its
    /// runtime decides). A new input to the decision must join this key or the memo key, or jobs that differ
    /// in it would share an outcome.
    /// </summary>
    private static JobClass DecisionClass(Job job) =>
        new(job.Spec.Project, job.Spec.Resources, job.Spec.Replicas, SelectorKey(job.Spec), job.Spec.Priority);

    private void DecideFully(Job job, int position, int band, int jobClass = -1)
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
        var (replica, selector) = RequestOf(job, jobClass);
        var shadow = _reservation is { } reserved && !EndsBefore(job, reserved.At) ? reserved.Shadow : null;
        var shape = new ShapeKey(replica, job.Spec.Replicas, selector, shadow is not null);
        if (!_failed.ContainsKey(shape))
        {
            if (PlaceGang(_index, job, replica, shadow, out _) is { } placement)
            {
                _indexChanges++;
                _starts.Add(new StartDecision(job.Id, placement));
                _started.Add((job, replica, placement));
                _quota.Add(job);
                _afterStops?.Add(job);
                _epoch++;
                return;
            }

            if (shadow is not null)
            {
                // Failing against the shadow is not failing for lack of room now: other shapes may still backfill.
                // The reservation is the reason only when the job would fit without it; a job that finds no room
                // either way is told why not, node by node.
                _failed[shape] = !_snapshot.ExplainPending ? (Unexplained, NoRejections)
                    : Fits(_index, job, replica) ? (_reservation!.Reason(job.Id), NoRejections)
                    : Explained(job, replica, shape with { Shadowed = false });
            }
            else
            {
                _failed[shape] = _snapshot.ExplainPending ? Explained(job, replica, shape) : (Unexplained, NoRejections);
            }
        }

        var (reason, counts) = _failed[shape];

        // 3. No room: reclaim quota others borrowed, or preempt lower-priority work, or wait for stops.
        if (TryMakeRoom(job, replica, shape, withinNominal, band, jobClass) is { } waitingFor)
        {
            Wait(job, position, waitingFor, counts, blocked: false);
            return;
        }

        // 4. The first blocked job gets a reservation; every later job must not delay it.
        if (_options.Backfill && !_reservationTried && shadow is null)
        {
            _reservationTried = true;
            _reservation = Reserve(job, replica);
            _epoch++;
        }

        _bestBlockedBand = Math.Min(_bestBlockedBand, band);
        _blockedBands[band] = true;
        Wait(job, position, reason, counts, blocked: true);
    }

    /// <summary>
    /// Why no node takes the job's shape now, and each node's rejection: from the last pass when it asked about
    /// the shape on the same capacity, untouched then and now (no start and no promised room before the
    /// question). Wording the reason and checking 10,000 nodes for every shape that found no room was a
    /// seventh of a pass that changed nothing.
    /// </summary>
    private (string Reason, IReadOnlyDictionary<string, int> Rejections) Explained(Job job, ReplicaRequest replica, ShapeKey shape)
    {
        var untouched = _indexChanges == 0 && PassShortcuts.Enabled;
        if (untouched && _scratch.NoRoom.TryGetValue(shape, out var known))
        {
            return known;
        }

        var explained = (NoRoom(job.Spec, replica), (IReadOnlyDictionary<string, int>)_index.Rejections(replica, job.Spec.NodeSelector));
        if (untouched)
        {
            _scratch.NoRoom[shape] = explained;
        }

        return explained;
    }

    private void Wait(Job job, int position, string reason, IReadOnlyDictionary<string, int> rejections, bool blocked)
    {
        // One instance per content, carried over between passes, so Explain finds unchanged decisions by reference.
        if (_pending is not null)
        {
            reason = _pending.Canonical(reason);
            rejections = _pending.Canonical(rejections);
        }

        Wait(job, job.Id, position, reason, rejections, blocked);
    }

    private void Wait(Job job, long id, int position, string reason, IReadOnlyDictionary<string, int> rejections, bool blocked)
    {
        _lastWait = (reason, rejections, blocked);
        if (_snapshot.ExplainPending)
        {
            _waiting.Add(new Waiting(job, id, position, reason, rejections, blocked));
        }
    }

    /// <summary>Places every replica or none; the second and later replicas prefer the rack of the first.</summary>
    private List<ReplicaPlacement>? PlaceGang(CapacityIndex index, Job job, ReplicaRequest replica, CapacityIndex? shadow, out int placed)
    {
        if (!TakeGang(index, job, replica, shadow, out placed))
        {
            return null;
        }

        var placement = new List<ReplicaPlacement>(placed);
        for (var rank = 0; rank < placed; rank++)
        {
            placement.Add(new ReplicaPlacement(rank, index.Node(_gangNodes[rank]).Name, _gangDevices[rank]));
        }

        return placement;
    }

    /// <summary>
    /// Takes room for every replica or none, as <see cref="PlaceGang"/> places them; the nodes and device indices
    /// taken are left in <see cref="_gangNodes"/> and <see cref="_gangDevices"/>. Working lists lent by the pass
    /// (one placement at a time): most placements find no room, and lists and a closure made for each were a sixth
    /// of what a replay allocated.
    /// </summary>
    private bool TakeGang(CapacityIndex index, Job job, ReplicaRequest replica, CapacityIndex? shadow, out int placed)
    {
        var spec = job.Spec;
        _gangNodes.Clear();
        _gangDevices.Clear();
        _gangShadow.Clear();
        var rack = -1;
        for (var rank = 0; rank < spec.Replicas; rank++)
        {
            var n = index.Select(replica, spec.NodeSelector, _options.Spread, rack, shadow);
            if (n < 0)
            {
                for (var k = 0; k < _gangNodes.Count; k++)
                {
                    index.Release(_gangNodes[k], replica, _gangDevices[k]);
                    shadow?.Release(_gangNodes[k], replica, _gangShadow[k]);
                }

                placed = rank;
                return false;
            }

            _gangDevices.Add(index.Take(n, replica));
            if (shadow is not null)
            {
                _gangShadow.Add(shadow.TakeAmounts(n, replica));
            }

            _gangNodes.Add(n);
            rack = rank == 0 && spec.Replicas > 1 ? index.RackOf(n) : rack;
        }

        placed = spec.Replicas;
        return true;
    }

    private bool Fits(CapacityIndex index, Job job, ReplicaRequest replica)
    {
        if (!TakeGang(index, job, replica, null, out _))
        {
            return false;
        }

        for (var k = 0; k < _gangNodes.Count; k++)
        {
            index.Release(_gangNodes[k], replica, _gangDevices[k]);
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
    /// nominal quota, jobs of cohort mates that borrow (reclaim), then preemptible jobs of lower priority,
    /// and with service bands preemptible jobs of its priority in a worse band (not of another project
    /// within its guaranteed share). Victims in order: preemptible first, lowest priority, (with bands) worst
    /// band, youngest (least work lost), highest id; whole gangs; never one started within the cooldown.
    /// Returns the pending reason, or null when nothing helps.
    /// </summary>
    private string? TryMakeRoom(Job job, ReplicaRequest replica, ShapeKey shape, bool withinNominal, int band, int jobClass)
    {
        if (_preemptors >= _options.MaxPreemptorsPerPass)
        {
            return null;
        }

        var byProject = NoPreemptionKey(shape, job.Spec.Priority, job.Spec.Project, jobClass);
        var anyProject = byProject with { Project = -1 };
        if ((_noPreemption.TryGetValue(byProject, out var failedAt) && band >= failedAt)
            || (_noPreemption.TryGetValue(anyProject, out failedAt) && band >= failedAt))
        {
            return null;
        }

        var mates = withinNominal ? BorrowingMates(job.Spec.Project) : [];

        // The candidates depend on the project only through reclaim and guaranteed shares.
        var key = mates.Count > 0 || (_service is not null && AnyCohort()) ? byProject : anyProject;

        // Most searches cannot succeed: a bound on the room every candidate could give settles them before
        // the victim order is sorted, the capacity copied and placements tried after each release.
        if (PassShortcuts.Enabled && !CouldMakeRoom(job, replica, mates, band))
        {
            _noPreemption[key] = Math.Min(band, _noPreemption.GetValueOrDefault(key, int.MaxValue));
            return null;
        }

        var table = Table();
        if (!_victimsOrdered)
        {
            OrderVictims(table);
        }

        // Lazily: the walk stops at the first victim set that makes room, so candidates are filtered as it
        // reaches them (with 15,000 running jobs, filtering all of them for every search was a fifth of a pass).
        // Nothing the filter reads changes during the walk.
        var projectFlags = ProjectFlags(table, job, mates);
        CapacityIndex? future = null;
        var waitedFor = new List<Job>();
        var victims = new List<Job>();
        var victimSlots = new List<int>();
        var fits = false;
        var stoppingCount = _stopping!.Count;
        for (var e = 0; e < stoppingCount + _victimCount && !fits; e++)
        {
            var isVictim = e >= stoppingCount;
            var slot = isVictim ? VictimAt(e - stoppingCount) : _stopping[e];
            if (_promised.Count > 0 && _promised.Contains(table.Jobs[slot].Id))
            {
                continue;
            }

            if (isVictim)
            {
                var flag = projectFlags[table.Project[slot]];
                if (!((flag & 1) != 0 || (table.Preemptible[slot] && table.Priority[slot] < job.Spec.Priority)
                    || ((flag & 2) != 0 && table.Preemptible[slot] && table.Priority[slot] == job.Spec.Priority && table.BandAt(slot) > band)))
                {
                    continue;
                }
            }

            future ??= CopyOfIndex();
            table.Release(future, slot);
            (isVictim ? victims : waitedFor).Add(table.Jobs[slot]);
            if (isVictim)
            {
                victimSlots.Add(slot);
            }
            fits = table.FreesRoomFor(future, slot, replica, job.Spec) && Fits(future, job, replica);
        }

        if (!fits)
        {
            _noPreemption[key] = Math.Min(band, _noPreemption.GetValueOrDefault(key, int.MaxValue));
            return null;
        }

        // Spare, last taken first, every victim the job can do without: victims are taken until one frees a
        // node where the gang fits, and those taken before it on other nodes are often not needed (a job of
        // 8 GPUs took a 1-GPU job on each of several nodes before one node had 8 free).
        if (victims.Count > 1)
        {
            var spared = false;
            for (var i = victims.Count - 2; i >= 0; i--)
            {
                var trial = Without(waitedFor, victims, skip: i);
                var fitsWithout = Fits(trial, job, replica);
                DoneWith(trial);
                if (fitsWithout)
                {
                    victims.RemoveAt(i);
                    victimSlots.RemoveAt(i);
                    spared = true;
                }
            }

            if (spared)
            {
                future = Without(waitedFor, victims, skip: -1);
            }
        }

        // Promise the room: nobody else in this pass may take what the job's future placement uses.
        _preemptors++;
        _epoch++;
        TakeGang(future!, job, replica, null, out _);
        _index.RestrictTo(future!);
        _indexChanges++;
        foreach (var gone in waitedFor.Concat(victims))
        {
            _promised.Add(gone.Id);
        }

        for (var v = 0; v < victims.Count; v++)
        {
            var victim = victims[v];
            var why = mates.Contains(victim.Spec.Project)
                ? $"preempted by job {job.Id} to reclaim quota project {victim.Spec.Project} borrowed"
                : victim.Spec.Priority < job.Spec.Priority
                    ? $"preempted by job {job.Id} (priority {job.Spec.Priority})"
                    : $"preempted by job {job.Id}, which has attained less service (band {band} against {table.BandAt(victimSlots[v])})";
            _preemptions.Add(new PreemptDecision(victim.Id, job.Id, why));
            AfterStops().Remove(victim);
        }

        return PendingReasons.WaitingForStops(waitedFor.Concat(victims).Select(j => j.Id), waitedFor.All(s => s.Stop!.Kind == StopKind.Preempt));
    }

    /// <summary>
    /// Running jobs already stopping (by id), and the ripe rest in victim order (<see cref="VictimKey"/>), once per
    /// pass. Apart from <see cref="TryMakeRoom"/> so that the comparer's closure is made only when this runs.
    /// </summary>
    private void OrderVictims(RunningTable table)
    {
        _stopping = [];
        for (var i = 0; i < table.Count; i++)
        {
            if (table.Stopping[i])
            {
                _stopping.Add(i);
            }
        }

        // Ids are unique among running jobs, so an unstable sort by id is the order OrderBy gave.
        _stopping.Sort((a, b) => table.Jobs[a].Id.CompareTo(table.Jobs[b].Id));

        // The ripe jobs on a heap by victim key, taken off in order only as far as a walk goes (a walk that makes
        // room stops after a few victims): sorting all of them on every pass whose search got past the bound was
        // a twentieth of a replay. Keys are unique (the id breaks ties), so the order taken off is the sorted one.
        if (_scratch.Victims.Length < table.Count)
        {
            _scratch.Victims = new int[table.Count];
            _scratch.VictimKeys = new VictimKey[table.Count];
            _scratch.VictimOrder = new int[table.Count];
        }

        var slots = _scratch.Victims;
        var keys = _scratch.VictimKeys;
        var ripe = 0;
        for (var i = 0; i < table.Count; i++)
        {
            if (table.Ripe[i])
            {
                slots[ripe] = i;
                keys[ripe++] = VictimKeyOf(table, i);
            }
        }

        for (var i = (ripe / 2) - 1; i >= 0; i--)
        {
            SiftVictim(i, ripe);
        }

        _victimHeap = ripe;
        _victimCount = ripe;
        _victimTaken = 0;
        _victimsOrdered = true;
    }

    /// <summary>The <paramref name="k"/>-th ripe job in victim order (below <see cref="_victimCount"/>), taking victims off the heap as far as that.</summary>
    private int VictimAt(int k)
    {
        var keys = _scratch.VictimKeys;
        var slots = _scratch.Victims;
        while (_victimTaken <= k)
        {
            _scratch.VictimOrder[_victimTaken++] = slots[0];
            _victimHeap--;
            keys[0] = keys[_victimHeap];
            slots[0] = slots[_victimHeap];
            SiftVictim(0, _victimHeap);
        }

        return _scratch.VictimOrder[k];
    }

    private void SiftVictim(int at, int count)
    {
        var keys = _scratch.VictimKeys;
        var slots = _scratch.Victims;
        var (key, slot) = (keys[at], slots[at]);
        while (true)
        {
            var child = (2 * at) + 1;
            if (child >= count)
            {
                break;
            }

            if (child + 1 < count && keys[child + 1].CompareTo(keys[child]) < 0)
            {
                child++;
            }

            if (key.CompareTo(keys[child]) <= 0)
            {
                break;
            }

            (keys[at], slots[at]) = (keys[child], slots[child]);
            at = child;
        }

        (keys[at], slots[at]) = (key, slot);
    }

    /// <summary>
    /// Per project of the running table, worked out once per question instead of per running job: bit 1, the job
    /// may reclaim from it (a borrowing cohort mate); bit 2, it may take from it for service (<see cref="MayTakeForService"/>).
    /// </summary>
    private sbyte[] ProjectFlags(RunningTable table, Job job, HashSet<string> mates)
    {
        var projects = table.ProjectNames.Count;
        if (_scratch.ProjectFlags.Length < projects)
        {
            _scratch.ProjectFlags = new sbyte[projects];
        }

        var flags = _scratch.ProjectFlags;
        for (var p = 0; p < projects; p++)
        {
            var name = table.ProjectNames[p];
            flags[p] = (sbyte)((mates.Count > 0 && mates.Contains(name) ? 1 : 0) | (_service is not null && MayTakeForService(name, job) ? 2 : 0));
        }

        return flags;
    }

    private VictimKey VictimKeyOf(RunningTable table, int slot) =>
        new(table.Preemptible[slot], table.Priority[slot], _service is null ? 0 : table.BandAt(slot), table.StartedTicks[slot], table.Ids[slot]);

    private QuotaLedger AfterStops()
    {
        if (_afterStops is null)
        {
            _afterStops = new QuotaLedger(_snapshot, _layouts);
            foreach (var (job, _, _) in _started)
            {
                _afterStops.Add(job);
            }
        }

        return _afterStops;
    }

    /// <summary>
    /// False only when the gang cannot fit even once every candidate of <see cref="TryMakeRoom"/> has ended: per node,
    /// free devices of the replica's type plus an upper bound on what those jobs give back there, in whole
    /// replicas, summed over nodes. Free is the smaller of a node's device budget and its free device indices,
    /// and a stop raises the budget by x and the free indices by y, so free rises by at most max(x, y) per
    /// replica stopped (summing both, as this did first, let through nine in ten walks that then failed).
    /// Readiness, selectors, CPU and memory are left out, which only loosens the bound, so a false never
    /// hides room the walk would find.
    /// Replicas of no or several accelerator types are not judged (true).
    /// </summary>
    private bool CouldMakeRoom(Job job, ReplicaRequest replica, HashSet<string> mates, int band)
    {
        if (replica.Types.Count != 1 || replica.Counts[0] <= 0)
        {
            return true;
        }

        var type = replica.Types[0];
        var need = replica.Counts[0];
        var nodes = _index.Count;
        var bands = _blockedBands.Length;
        var priority = job.Spec.Priority;

        // What the candidates give back depends on the job only through its priority, the type asked for, and
        // with cohorts its project, the mates it may reclaim from and who borrows (the after-stops ledger).
        _anyCohort ??= AnyCohort();
        var key = new GainsKey(priority, type, _anyCohort.Value ? job.Spec.Project : "", mates.Count == 0 ? null : mates,
            _anyCohort.Value ? AfterStops().Version : 0, _promised.Count);
        if (_gainsFor != key)
        {
            SumGains(job, key, mates, nodes, bands);
            _gainsFor = key;
        }

        var always = _scratch.Gain;
        var byBand = _scratch.GainByBand;
        var worse = (band + 1) * nodes;
        var t = _index.TypeNumber(type);
        var fit = 0;
        for (var n = 0; n < nodes && fit < job.Spec.Replicas; n++)
        {
            fit += (_index.FreeOf(t, n) + always[n] + (band + 1 < bands ? byBand[worse + n] : 0)) / need;
        }

        return fit >= job.Spec.Replicas;
    }

    private bool? _anyCohort;

    // What SumGains summed last in this pass, and for what.
    private GainsKey? _gainsFor;

    private readonly record struct GainsKey(int Priority, string Type, string Project, HashSet<string>? Mates, long QuotaVersion, int Promised);

    /// <summary>
    /// Per node, what the candidates of <see cref="TryMakeRoom"/> give back of the key's accelerator type (at most
    /// max(budget, device indices) per replica, see <see cref="CouldMakeRoom"/>): in <see cref="Scratch.Gain"/> the
    /// jobs a job of that priority may take whatever its band (stopping, lower priority, a mate's borrowing), in
    /// row k of <see cref="Scratch.GainByBand"/> those of its priority it may take from band k or worse. One walk
    /// over the running jobs per key, where the bound walked them on every question (about four a pass in the
    /// Philly replay, hundreds in a pass over 10,000 nodes), so each question is one walk over the nodes.
    /// </summary>
    private void SumGains(Job job, GainsKey key, HashSet<string> mates, int nodes, int bands)
    {
        var priority = key.Priority;
        var type = key.Type;
        if (_scratch.Gain.Length < nodes)
        {
            _scratch.Gain = new int[nodes];
        }

        if (_scratch.GainByBand.Length < nodes * bands)
        {
            _scratch.GainByBand = new int[nodes * bands];
        }

        var always = _scratch.Gain;
        var byBand = _scratch.GainByBand;
        var table = Table();
        var anyPromised = _promised.Count > 0;
        _anyCohort ??= AnyCohort();
        if (PassShortcuts.Enabled && !anyPromised && !_anyCohort.Value && mates.Count == 0)
        {
            var followed = table.FollowGains(priority, type, nodes, bands, _options.PreemptionCooldown);
            Array.Copy(followed.Always, always, nodes);
            Array.Copy(followed.ByBand, byBand, nodes * bands);
            if (CheckFollowedGains)
            {
                FollowedGainsChecked++;
                // Tests: the followed sums must be the long way's to the device, not merely never below them.
                SumGainsOverTable(job, table, priority, type, mates, nodes, always, byBand);
                if (!always.AsSpan(0, nodes).SequenceEqual(followed.Always) || !byBand.AsSpan(0, nodes * bands).SequenceEqual(followed.ByBand))
                {
                    throw new InvalidOperationException($"followed preemption gains differ from the running jobs' at {_snapshot.Now:O}");
                }
            }
        }
        else
        {
            SumGainsOverTable(job, table, priority, type, mates, nodes, always, byBand);
        }

        for (var k = bands - 2; k >= 0; k--)
        {
            for (var n = 0; n < nodes; n++)
            {
                byBand[(k * nodes) + n] += byBand[((k + 1) * nodes) + n];
            }
        }
    }

    /// <summary>Set by tests on their thread: every followed gain sum is checked against the long way (see <see cref="SumGains"/>).</summary>
    [ThreadStatic]
    internal static bool CheckFollowedGains;

    /// <summary>How many followed gain sums were checked on this thread (tests: that the check ran at all).</summary>
    [ThreadStatic]
    internal static int FollowedGainsChecked;

    /// <summary>The long way of <see cref="SumGains"/>: every running job through the walk's filter, band rows not yet summed.</summary>
    private void SumGainsOverTable(Job job, RunningTable table, int priority, string type, HashSet<string> mates, int nodes, int[] always, int[] byBand)
    {
        Array.Clear(always, 0, nodes);
        Array.Clear(byBand, 0, nodes * _blockedBands.Length);
        var anyPromised = _promised.Count > 0;

        var flags = ProjectFlags(table, job, mates);
        ReplicaRequest? lastGiven = null;
        var budget = 0;

        // The columns once, as spans: this loop runs over every running job once per pass.
        var count = table.Count;
        ReadOnlySpan<bool> stopping = table.Stopping.AsSpan(0, count);
        ReadOnlySpan<bool> ripe = table.Ripe.AsSpan(0, count);
        ReadOnlySpan<bool> preemptible = table.Preemptible.AsSpan(0, count);
        ReadOnlySpan<int> priorities = table.Priority.AsSpan(0, count);
        ReadOnlySpan<int> projects = table.Project.AsSpan(0, count);
        ReadOnlySpan<int> replicas = table.ReplicaCount.AsSpan(0, count);
        ReadOnlySpan<int> firstNodes = table.FirstNode.AsSpan(0, count);
        ReadOnlySpan<int> firstDevices = table.FirstDevices.AsSpan(0, count);
        for (var i = 0; i < count; i++)
        {
            int[] into;
            var offset = 0;
            if (stopping[i])
            {
                into = always;
            }
            else
            {
                // The walk's filter (mates, lower priority, a worse band of its own priority) with the band left to the question.
                if (!ripe[i])
                {
                    continue;
                }

                var flag = flags[projects[i]];
                if ((flag & 1) != 0 || (preemptible[i] && priorities[i] < priority))
                {
                    into = always;
                }
                else if (preemptible[i] && priorities[i] == priority && (flag & 2) != 0)
                {
                    into = byBand;
                    offset = table.BandAt(i) * nodes;
                }
                else
                {
                    continue;
                }
            }

            if (anyPromised && _promised.Contains(table.Jobs[i].Id))
            {
                continue;
            }

            // Running jobs share a few requests: the budget is worked out again only when the request changes.
            var given = table.Requests[i];
            if (!ReferenceEquals(given, lastGiven))
            {
                lastGiven = given;
                budget = 0;
                for (var k = 0; k < given.Types.Count; k++)
                {
                    if (given.Types[k] == type)
                    {
                        budget = Math.Max(0, given.Counts[k]);
                    }
                }
            }

            if (replicas[i] == 1)
            {
                if (firstNodes[i] is var first and >= 0)
                {
                    into[offset + first] += Math.Max(budget, firstDevices[i]);
                }

                continue;
            }

            var row = table.Rows[i];
            var held = row.Nodes;
            for (var r = 0; r < held.Length; r++)
            {
                if (held[r] is var n and >= 0)
                {
                    into[offset + n] += Math.Max(budget, row.Devices[r]);
                }
            }
        }
    }

    /// <summary>A copy of the free capacity as if <paramref name="waitedFor"/> and every victim but number <paramref name="skip"/> had ended.</summary>
    private CapacityIndex Without(List<Job> waitedFor, List<Job> victims, int skip)
    {
        var copy = CopyOfIndex();
        foreach (var gone in waitedFor)
        {
            copy.Release(gone, CapacityIndex.Request(_requests, gone.Spec.Resources));
        }

        for (var v = 0; v < victims.Count; v++)
        {
            if (v != skip)
            {
                copy.Release(victims[v], CapacityIndex.Request(_requests, victims[v].Spec.Resources));
            }
        }

        return copy;
    }

    /// <summary>
    /// Whether a preemptible job of <paramref name="project"/>, of <paramref name="job"/>'s priority and a worse band,
    /// may give way to it for attained service: of the same project, or of one that has no guaranteed share to
    /// keep (no cohort) or uses more than it now (borrows).
    /// </summary>
    private bool MayTakeForService(string project, Job job) =>
        project == job.Spec.Project || !InCohort(project) || AfterStops().IsBorrowing(project);

    private bool InCohort(string project)
    {
        // Without cohorts (a replay's projects have none) no project is in one: no table to build per pass.
        _anyCohort ??= AnyCohort();
        if (!_anyCohort.Value)
        {
            return false;
        }

        if (_inCohort is null)
        {
            _inCohort = new Dictionary<string, bool>(StringComparer.Ordinal);
            foreach (var p in _snapshot.Projects)
            {
                _inCohort.TryAdd(p.Name, p.Quota.Cohort is not null);
            }
        }

        return _inCohort.GetValueOrDefault(project);
    }

    private bool AnyCohort()
    {
        foreach (var project in _snapshot.Projects)
        {
            if (project.Quota.Cohort is not null)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Cohort mates of the project that use more than their nominal quota now; cached until usage changes.</summary>
    private HashSet<string> BorrowingMates(string project)
    {
        if (!InCohort(project))
        {
            return NoMates;
        }

        var quota = AfterStops();
        if (_matesVersion != quota.Version)
        {
            _mates?.Clear();
            _matesVersion = quota.Version;
        }

        _mates ??= new(StringComparer.Ordinal);
        if (!_mates.TryGetValue(project, out var mates))
        {
            mates = quota.CohortMates(project).Where(quota.IsBorrowing).ToHashSet(StringComparer.Ordinal);
            _mates[project] = mates;
        }

        return mates;
    }

    /// <summary>The earliest time enough running work has ended (max runtime or estimate) for the job to fit, with the capacity left then.</summary>
    private Reservation? Reserve(Job job, ReplicaRequest replica)
    {
        var timeline = CopyOfIndex();
        foreach (var (end, ended) in Ends())
        {
            var endedReplica = CapacityIndex.Request(_requests, ended.Spec.Resources);
            timeline.Release(ended, endedReplica);
            if (FreesRoomFor(timeline, ended.CurrentAttempt?.Placement ?? [], replica, job.Spec) && TakeGang(timeline, job, replica, null, out _))
            {
                return new Reservation(job.Id, end, ended.Id, timeline);
            }
        }

        return null;
    }

    /// <summary>Running jobs (not promised to anyone) with a known end, earliest first; an overdue job ends now.</summary>
    private List<(DateTimeOffset End, Job Job)> Ends()
    {
        // Sorted once per pass by flat keys (a comparison delegate over tuples was most of the cost); only
        // the promised jobs, which grow during the pass, are left out at each call.
        _ends ??= SortedEnds();
        if (_endsList is not null && _endsPromised == _promised.Count)
        {
            return _endsList;
        }

        var ends = new List<(DateTimeOffset, Job)>(_ends.Length);
        foreach (var ended in _ends)
        {
            if (_promised.Count == 0 || !_promised.Contains(ended.Job.Id))
            {
                ends.Add(ended);
            }
        }

        // The reservation and the estimates both ask; nothing is promised between them unless a job made room.
        (_endsList, _endsPromised) = (ends, _promised.Count);
        return ends;
    }

    private List<(DateTimeOffset End, Job Job)>? _endsList;
    private int _endsPromised;

    private (DateTimeOffset End, Job Job)[]? _ends;

    private (DateTimeOffset End, Job Job)[] SortedEnds()
    {
        // By (end, id), from the ends kept between passes; those not after now end now, which orders them by id alone.
        var byEnd = _layouts.Memory.Ends.For(_snapshot.Running, _snapshot.RuntimeEstimates, _snapshot.Capacity);
        var now = _snapshot.Now;
        var sorted = new (DateTimeOffset End, Job Job)[byEnd.Length];
        var due = 0;
        while (due < byEnd.Length && byEnd[due].End.UtcTicks <= now.UtcTicks)
        {
            var (end, job) = byEnd[due];
            sorted[due] = (end < now ? now : end, job);
            due++;
        }

        if (due > 1)
        {
            var ids = new long[due];
            for (var i = 0; i < due; i++)
            {
                ids[i] = sorted[i].Job.Id;
            }

            Array.Sort(ids, sorted, 0, due);
        }

        Array.Copy(byEnd, due, sorted, due, byEnd.Length - due);
        return sorted;
    }

    /// <summary>
    /// Pending decisions, with an estimated start for the first <see cref="PlanningOptions.EstimateLimit"/>
    /// jobs blocked for room: walking forward through known ends on a copy of what is left after this
    /// pass, each job in queue order takes the earliest time it fits (never earlier than the one before it).
    /// </summary>
    private IReadOnlyList<PendingDecision> Explain()
    {
        // By position among the blocked jobs: the estimates are for the first of them, up to the first that
        // gets none (a lookup by id for each of 100,000 waiting jobs was a twentieth of a pass).
        var estimates = new List<(DateTimeOffset At, long? After)>();
        var blocked = new List<Waiting>();
        for (var w = 0; w < _waiting.Count && blocked.Count < _options.EstimateLimit; w++)
        {
            if (_waiting[w].Blocked)
            {
                blocked.Add(_waiting[w]);
            }
        }

        if (blocked.Count > 0)
        {
            var timeline = CopyOfIndex();
            // Running jobs' ends come sorted (by end, then id: the queue's order too), so they are merged with the
            // queue of the rest rather than all enqueued: 15,000 enqueues and request lookups were a tenth of Explain.
            var ends = Ends();
            var nextEnd = 0;
            var events = new PriorityQueue<(ReplicaRequest Replica, IReadOnlyList<ReplicaPlacement> Placement, long Id), (DateTimeOffset, long)>();

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
                while (placement is null && NextEnd(ends, ref nextEnd, events, out var ended, out var at))
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

                estimates.Add((clock, lastEnded));
                if (RuntimeEstimates.For(job, _snapshot.RuntimeEstimates) is { } runtime)
                {
                    events.Enqueue((replica, placement, job.Id), (clock + runtime, job.Id));
                }
            }
        }

        // Unchanged decisions are the last pass's objects (reasons and counts are canonical: see Wait), and
        // when every one is unchanged the last pass's list itself.
        var last = _pending?.Last ?? [];
        var count = _waiting.Count;
        var pending = last.Length == count ? null : new PendingDecision[count];
        var ahead = 0;
        var estimated = 0;
        for (var w = 0; w < count; w++)
        {
            var waiting = _waiting[w];
            var old = w < last.Length ? last[w] : null;
            PendingDecision decision;
            if (waiting.Blocked && estimated < estimates.Count)
            {
                var estimate = estimates[estimated++];
                var reason = $"{waiting.Reason}; {Ahead(ahead)}; estimated start {When(estimate.At)}"
                    + (estimate.After is { } after ? $" when job {after.ToString(CultureInfo.InvariantCulture)} ends" : "");
                decision = old is not null && old.JobId == waiting.JobId && old.QueuePosition == waiting.Position && old.EstimatedStart == estimate.At
                    && ReferenceEquals(old.NodeRejections, waiting.Rejections) && string.Equals(old.Reason, reason, StringComparison.Ordinal)
                    ? old
                    : new PendingDecision(waiting.JobId, reason, waiting.Rejections, waiting.Position, estimate.At);
            }
            else
            {
                decision = old is not null && old.JobId == waiting.JobId && old.QueuePosition == waiting.Position && old.EstimatedStart is null
                    && ReferenceEquals(old.Reason, waiting.Reason) && ReferenceEquals(old.NodeRejections, waiting.Rejections)
                    ? old
                    : new PendingDecision(waiting.JobId, waiting.Reason, waiting.Rejections, waiting.Position);
            }

            // A new list only from the first changed decision (100,000 references are a large-object allocation).
            if (pending is null && !ReferenceEquals(decision, old))
            {
                pending = new PendingDecision[count];
                Array.Copy(last, pending, w);
            }

            if (pending is not null)
            {
                pending[w] = decision;
            }

            ahead += waiting.Blocked ? 1 : 0;
        }

        pending ??= last;
        _pending?.End(_layouts.Memory.Pending, pending);
        return pending;
    }

    /// <summary>The earliest of the next sorted running end and the queue's first event, as one queue of both would give it.</summary>
    private bool NextEnd(List<(DateTimeOffset End, Job Job)> ends, ref int next,
        PriorityQueue<(ReplicaRequest Replica, IReadOnlyList<ReplicaPlacement> Placement, long Id), (DateTimeOffset, long)> events,
        out (ReplicaRequest Replica, IReadOnlyList<ReplicaPlacement> Placement, long Id) ended, out (DateTimeOffset, long) at)
    {
        if (next < ends.Count)
        {
            var (end, job) = ends[next];
            if (!events.TryPeek(out _, out var first) || (end, job.Id).CompareTo(first) < 0)
            {
                next++;
                ended = (CapacityIndex.Request(_requests, job.Spec.Resources), job.CurrentAttempt!.Placement, job.Id);
                at = (end, job.Id);
                return true;
            }
        }

        return events.TryDequeue(out ended, out at);
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

        var ready = new List<int>(_index.Count);
        for (var n = 0; n < _index.Count; n++)
        {
            if (_index.Node(n).State == NodeState.Ready)
            {
                ready.Add(n);
            }
        }

        if (ready.Count == 0)
        {
            var draining = Enumerable.Range(0, _index.Count).Count(n => _index.Node(n).State == NodeState.Draining);
            return $"no ready node ({draining} draining, {_index.Count - draining} down)";
        }

        // One rejection check per ready node answers both questions below (plain loops: this runs for every
        // shape that finds no room, over every node).
        // The nodes the selector lets in: the blocks and the closest node named below are among them, never a
        // node the job could not use whatever was free there.
        var accepting = 0;
        var matching = new List<int>(ready.Count);
        foreach (var n in ready)
        {
            if (_index.Reject(n, replica, spec.NodeSelector) is not string rejected)
            {
                accepting++;
                matching.Add(n);
            }
            else if (!rejected.StartsWith("node label", StringComparison.Ordinal))
            {
                matching.Add(n);
            }
        }

        var anyBesidesLabels = matching.Count > 0;

        if (accepting > 0)
        {
            return $"needs {spec.Replicas} replicas of {spec.Resources}; only {accepting} node(s) can take one now";
        }

        if (spec.NodeSelector.Count > 0 && !anyBesidesLabels)
        {
            return $"no ready node matches node selector {string.Join(", ", spec.NodeSelector.Select(kv => $"{kv.Key}={kv.Value}"))}";
        }

        for (var i = 0; i < replica.Types.Count; i++)
        {
            var type = replica.Types[i];

            // The first ready node with the most free devices of the type (as MaxBy picks), or none with the type.
            var largest = -1;
            var block = 0;
            foreach (var n in matching)
            {
                if (_index.HasType(n, type) && (largest < 0 || _index.Free(n, type) > block))
                {
                    largest = n;
                    block = _index.Free(n, type);
                }
            }

            if (largest < 0)
            {
                return $"no ready node has {type}";
            }

            if (block == 0)
            {
                return $"needs {replica.Counts[i]} {type} on one node; every {type} on ready nodes is in use";
            }

            if (block < replica.Counts[i])
            {
                return $"needs {replica.Counts[i]} {type} on one node; the largest free block is {block} on node {_index.Node(largest).Name}";
            }
        }

        var closest = matching.MaxBy(n => Math.Min((double)_index.Cpu(n) / Math.Max(1, replica.CpuMillis), (double)_index.Memory(n) / Math.Max(1, replica.MemoryBytes)));
        return $"needs cpu {Quantity.FormatCpu(replica.CpuMillis)}, memory {Quantity.FormatMemory(replica.MemoryBytes)} per replica; "
            + $"most free: node {_index.Node(closest).Name} with cpu {Quantity.FormatCpu(Math.Max(0, _index.Cpu(closest)))}, memory {Quantity.FormatMemory(Math.Max(0, _index.Memory(closest)))}";
    }

    private static string SelectorKey(JobSpec spec) =>
        spec.NodeSelector.Count == 0 ? "" : string.Join("\n", spec.NodeSelector.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));

    /// <summary>
    /// What one pass lends the next through the policy's <see cref="CapacityIndex.LayoutCache"/>: a replay makes
    /// 200,000 passes, and allocating these tables afresh in each was most of what its garbage collector cleared
    /// (a gen-2 collection for every outcome table past the large-object size). One pass at a time holds them;
    /// a pass that finds them taken (a concurrent pass) makes its own.
    /// </summary>
    internal sealed class Scratch
    {
        // Distinct resource vectors seen; past this many the table starts again, so a long-lived server's stays small.
        public const int MaxRequests = 4096;

        public Dictionary<ResourceVector, ReplicaRequest> Requests { get; } = [];

        /// <summary>How many times <see cref="Requests"/>, <see cref="ShapeNumbers"/> and <see cref="ProjectNumbers"/> started again (what is kept by class number then goes).</summary>
        public long RequestsCleared { get; set; }

        /// <summary>Per job class number, its request and selector key (see <c>RequestOf</c>), for the numbering and request table named beside it.</summary>
        public ClassRequest[] ClassRequests { get; set; } = [];

        /// <summary>Shapes and projects by number, for the keys of the preemption misses; started again past <see cref="MaxShapes"/>.</summary>
        public Dictionary<ShapeKey, int> ShapeNumbers { get; } = [];

        public Dictionary<string, int> ProjectNumbers { get; } = new(StringComparer.Ordinal);

        public const int MaxShapes = 65_536;

        public object? ClassRequestsFor { get; set; }

        public long ClassRequestsCleared { get; set; }

        public Outcome[] Decided { get; set; } = [];

        /// <summary>Where the next pass's epochs start: past every stamp an earlier pass left in <see cref="Decided"/>.</summary>
        public long NextEpoch { get; set; }

        public int[] Victims { get; set; } = [];

        public VictimKey[] VictimKeys { get; set; } = [];

        /// <summary>Ripe running jobs in victim order, as far as a pass took them off the heap in <see cref="Victims"/>.</summary>
        public int[] VictimOrder { get; set; } = [];

        public RunningTable Table { get; } = new();

        public List<Waiting> Waiting { get; } = [];

        /// <summary>The queue in groups, followed from pass to pass.</summary>
        public QueueOrderIndex Queue { get; } = new();

        public double[] Penalties { get; set; } = [];

        public bool[] Neutral { get; set; } = [];

        public Dictionary<string, double> Penalty { get; } = new(StringComparer.Ordinal);

        /// <summary>How many copies of the capacity a pass hands on to the next.</summary>
        public const int MaxSpares = 16;

        /// <summary>Copies of the capacity earlier passes are done with, to be written over (<see cref="CapacityIndex.Clone(CapacityIndex?)"/>).</summary>
        public List<CapacityIndex> Spares { get; } = [];

        /// <summary>The copies of the capacity the pass holding this made so far (see <c>CopyOfIndex</c>).</summary>
        public List<CapacityIndex> Copies { get; } = [];

        public List<int> GangNodes { get; } = [];

        public List<int[]> GangDevices { get; } = [];

        public List<int[]> GangShadow { get; } = [];

        public Dictionary<ShapeKey, (string Reason, IReadOnlyDictionary<string, int> Rejections)> Failed { get; } = [];

        public Dictionary<(int Shape, int Priority, int Project), int> NoPreemption { get; } = [];

        public int[] Gain { get; set; } = [];

        public int[] GainByBand { get; set; } = [];

        public sbyte[] ProjectFlags { get; set; } = [];

        /// <summary>Why shapes found no room on untouched capacity, for the capacity <see cref="NoRoomState"/> stands for.</summary>
        public Dictionary<ShapeKey, (string Reason, IReadOnlyDictionary<string, int> Rejections)> NoRoom { get; } = [];

        public object? NoRoomState { get; set; }
    }

    internal readonly record struct ShapeKey(ReplicaRequest Replica, int Replicas, string Selector, bool Shadowed);

    /// <summary>What a job class needs for a decision, kept by class number: its request and selector key, and its shape and project numbers plus one (0: not yet).</summary>
    internal struct ClassRequest
    {
        public ReplicaRequest Replica;
        public string Selector;
        public int Shape;
        public int ShadowedShape;
        public int Project;
    }

    // The id beside the job: reading 100,000 job records again to explain them was a cache miss apiece.
    internal readonly record struct Waiting(Job Job, long JobId, int Position, string Reason, IReadOnlyDictionary<string, int> Rejections, bool Blocked);

    private sealed record Reservation(long JobId, DateTimeOffset At, long AfterJobId, CapacityIndex Shadow)
    {
        public string Reason(long jobId) =>
            $"would delay job {JobId.ToString(CultureInfo.InvariantCulture)}, which has the room reserved from {At.UtcDateTime.ToString("HH:mm", CultureInfo.InvariantCulture)} UTC (backfill)";
    }

    /// <summary>Victim order: preemptible first, lowest priority, worst band, youngest (latest start), highest id.</summary>
    internal readonly record struct VictimKey(bool Preemptible, int Priority, int Band, long StartedTicks, long Id) : IComparable<VictimKey>
    {
        public int CompareTo(VictimKey other)
        {
            if (Preemptible != other.Preemptible)
            {
                return Preemptible ? -1 : 1;
            }

            if (Priority != other.Priority)
            {
                return Priority.CompareTo(other.Priority);
            }

            if (Band != other.Band)
            {
                return other.Band.CompareTo(Band);
            }

            if (StartedTicks != other.StartedTicks)
            {
                return other.StartedTicks.CompareTo(StartedTicks);
            }

            return other.Id.CompareTo(Id);
        }
    }

    internal readonly record struct OrderKey(double NegativeScore, int Band, double NegativeWithinBand, long SubmittedTicks, long Id) : IComparable<OrderKey>
    {
        /// <summary>
        /// A job's key: score is priority (without bands) less the project's fair-share penalty plus aging; with a
        /// band, priority then band come first and the score after. Within one priority, band and project only
        /// aging tells keys apart, and it rises with waiting time, so submit order is key order (<see cref="QueueOrderIndex"/>).
        /// </summary>
        public static OrderKey For(int priority, int? band, double penalty, double agingPerHour, long nowTicks, long submittedTicks, long id)
        {
            double score = band is null ? priority : 0;
            score -= penalty;
            if (agingPerHour > 0)
            {
                var waited = TimeSpan.FromTicks(nowTicks - submittedTicks);
                score += agingPerHour * Math.Max(0, waited.TotalHours);
            }

            return band is { } b ? new OrderKey(-priority, b, -score, submittedTicks, id) : new OrderKey(-score, 0, 0, submittedTicks, id);
        }

        public int CompareTo(OrderKey other)
        {
            var byScore = NegativeScore.CompareTo(other.NegativeScore);
            if (byScore != 0)
            {
                return byScore;
            }

            var byBand = Band.CompareTo(other.Band);
            if (byBand != 0)
            {
                return byBand;
            }

            var withinBand = NegativeWithinBand.CompareTo(other.NegativeWithinBand);
            if (withinBand != 0)
            {
                return withinBand;
            }

            var bySubmit = SubmittedTicks.CompareTo(other.SubmittedTicks);
            return bySubmit != 0 ? bySubmit : Id.CompareTo(other.Id);
        }
    }
}

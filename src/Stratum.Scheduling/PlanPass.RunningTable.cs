using Stratum.Core.Jobs;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

internal sealed partial class PlanPass
{
    private RunningTable? _table;

    /// <summary>The running jobs in flat arrays, brought up to date on the first question that walks them in this pass.</summary>
    private RunningTable Table() => _table ??= _scratch.Table.Fill(this);

    /// <summary>
    /// The snapshot's running jobs in flat arrays: each job's request, the node numbers of its replicas, whether
    /// it is stopping or past the preemption cooldown, and (asked for lazily) its service band. The preemption
    /// bound, the victim order, the victim walk and the band wake-ups read these instead of hashing node names
    /// and resource vectors again per job and question: the first 20,000 jobs of the Philly replay asked the
    /// bound 179,000 times over about 250 running jobs each. The table belongs to the policy's
    /// <see cref="Scratch"/>; with a <see cref="RunningCapacity"/> it follows the caller's log of starts and stops
    /// instead of being filled again (slots are in no particular order: every use sorts by id or sums).
    /// </summary>
    internal sealed partial class RunningTable
    {
        private readonly Dictionary<Job, int> _slotOf = new(ReferenceEqualityComparer.Instance);

        // Rows by job object, kept across passes that fill the table again (no capacity log to follow: the
        // live server, or the same snapshot passed again), so a job that still runs keeps its row.
        private readonly Dictionary<Job, Row> _rows = new(ReferenceEqualityComparer.Instance);
        private PlanPass? _pass;
        private object? _numbering;
        private Dictionary<Stratum.Core.Resources.ResourceVector, ReplicaRequest>? _requestsOf;
        private RunningCapacity? _capacity;
        private long _position;
        private int[] _band = [];

        // Slots hold the snapshot's running jobs in its order (filled, not followed).
        private bool _filledInOrder;

        public int Count { get; private set; }

        public Job[] Jobs { get; private set; } = [];

        public Row[] Rows { get; private set; } = [];

        public ReplicaRequest[] Requests { get; private set; } = [];

        public bool[] Stopping { get; private set; } = [];

        /// <summary>Not stopping and started at or before the cooldown's cutoff: a job a preemption may take.</summary>
        public bool[] Ripe { get; private set; } = [];

        public long[] StartedTicks { get; private set; } = [];

        public long[] Ids { get; private set; } = [];

        public int[] Priority { get; private set; } = [];

        public bool[] Preemptible { get; private set; } = [];

        /// <summary>The job's project as a number into <see cref="ProjectNames"/>, so per-project questions are asked once per project.</summary>
        public int[] Project { get; private set; } = [];

        public List<string> ProjectNames { get; } = [];

        private readonly Dictionary<string, int> _projectNumbers = new(StringComparer.Ordinal);

        // By slot, the service worked out in this pass (see ServiceAt).
        private double[] _service = [];

        // With service bands, the parts of each job's service (see Row), flat by slot: reading them through every
        // running job's row on every pass was a twentieth of a replay.
        private double[] _beforeLast = [];
        private int[] _gpus = [];
        private long[] _lastStart = [];
        private long[] _lastEnd = [];
        private int[] _lastBand = [];

        // Per slot, the clock range over which _lastBand is known to hold: from when it was worked out to (short of)
        // when the service could reach the next threshold (a running job's service only grows with the clock).
        private long[] _bandFrom = [];
        private long[] _bandUntil = [];
        private bool[] _serviceKnown = [];

        /// <summary>How many replicas the job has placed, and for the first its node number (-1 when unknown) and device indices held: most jobs have one.</summary>
        public int[] ReplicaCount { get; private set; } = [];

        public int[] FirstNode { get; private set; } = [];

        public int[] FirstDevices { get; private set; } = [];

        /// <summary>What does not change while a job object runs: its request, its replicas' node numbers, the fixed parts of its service.</summary>
        internal sealed class Row(Job job, ReplicaRequest request, int[] nodes, int[] devices)
        {
            public Job Job { get; } = job;

            public ReplicaRequest Request { get; } = request;

            public int[] Nodes { get; } = nodes;

            /// <summary>Per replica, how many device indices it holds (by <see cref="Nodes"/>' order).</summary>
            public int[] Devices { get; } = devices;

            public bool HasParts { get; set; }

            public double BeforeLast { get; set; }

            public int Gpus { get; set; }

            /// <summary>The last attempt's start and end (<see cref="long.MaxValue"/> while it runs), in ticks; no attempt at all when <see cref="HasAttempts"/> is false.</summary>
            public long LastStartTicks { get; set; }

            public long LastEndTicks { get; set; }

            public bool HasAttempts { get; set; }
        }

        public RunningTable Fill(PlanPass pass)
        {
            _pass = pass;
            var running = pass._snapshot.Running;
            var capacity = pass._snapshot.Capacity;
            var following = PassShortcuts.Enabled && capacity is not null && ReferenceEquals(_capacity, capacity)
                && ReferenceEquals(_numbering, pass._index.Numbering) && ReferenceEquals(_requestsOf, pass._requests)
                && capacity.TryChangesSince(_position, out var changes) && Count + RunningCapacity.Net(changes) == running.Count
                && Follow(changes);
            // Without a log to follow, the same running job objects in the same order (a pass over an unchanged
            // cluster) leave the table as it is.
            if (!following && !(PassShortcuts.Enabled && capacity is null && _capacity is null && _filledInOrder
                && ReferenceEquals(_numbering, pass._index.Numbering) && ReferenceEquals(_requestsOf, pass._requests) && SameJobs(running)))
            {
                // Node numbers hold for one layout, and requests for one request table; rows of jobs long gone
                // are dropped by starting again once they outnumber the running jobs.
                if (!ReferenceEquals(_numbering, pass._index.Numbering) || !ReferenceEquals(_requestsOf, pass._requests) || _rows.Count > (4 * running.Count) + 1024)
                {
                    _rows.Clear();
                }

                _numbering = pass._index.Numbering;
                _requestsOf = pass._requests;
                _slotOf.Clear();
                _projectNumbers.Clear();
                ProjectNames.Clear();
                Count = 0;
                foreach (var job in running)
                {
                    Append(job);
                }

                _filledInOrder = true;
                _gains = null;
            }
            else if (following)
            {
                _filledInOrder = false;
            }

            _capacity = capacity;
            _position = capacity?.ChangeCount ?? 0;
            if (_band.Length < Jobs.Length)
            {
                _band = new int[Jobs.Length];
                Ripe = new bool[Jobs.Length];
                _service = new double[Jobs.Length];
                _serviceKnown = new bool[Jobs.Length];
            }

            var cutoff = (pass._snapshot.Now - pass._options.PreemptionCooldown).UtcTicks;
            for (var i = 0; i < Count; i++)
            {
                Ripe[i] = !Stopping[i] && StartedTicks[i] <= cutoff;
                _band[i] = -1;
                _serviceKnown[i] = false;
            }

            return this;
        }

        private bool SameJobs(IReadOnlyList<Job> running)
        {
            if (running.Count != Count)
            {
                return false;
            }

            for (var i = 0; i < Count; i++)
            {
                if (!ReferenceEquals(running[i], Jobs[i]))
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>Applies the caller's starts and stops; false (the table to be filled again) for a stop of a job it does not hold.</summary>
        private bool Follow(ReadOnlySpan<(Job Job, bool Added)> changes)
        {
            foreach (var (job, added) in changes)
            {
                if (added)
                {
                    Append(job);
                    continue;
                }

                if (!_slotOf.Remove(job, out var slot))
                {
                    return false;
                }

                _rows.Remove(job);
                LeaveGains(slot);

                var last = --Count;
                if (slot != last)
                {
                    Jobs[slot] = Jobs[last];
                    Rows[slot] = Rows[last];
                    Requests[slot] = Requests[last];
                    Stopping[slot] = Stopping[last];
                    StartedTicks[slot] = StartedTicks[last];
                    Ids[slot] = Ids[last];
                    Priority[slot] = Priority[last];
                    Preemptible[slot] = Preemptible[last];
                    Project[slot] = Project[last];
                    _beforeLast[slot] = _beforeLast[last];
                    _gpus[slot] = _gpus[last];
                    _lastStart[slot] = _lastStart[last];
                    _lastEnd[slot] = _lastEnd[last];
                    _lastBand[slot] = _lastBand[last];
                    _bandFrom[slot] = _bandFrom[last];
                    _bandUntil[slot] = _bandUntil[last];
                    ReplicaCount[slot] = ReplicaCount[last];
                    FirstNode[slot] = FirstNode[last];
                    FirstDevices[slot] = FirstDevices[last];
                    _slotOf[Jobs[slot]] = slot;
                }

                MoveGains(slot, last);
                Jobs[last] = null!;
                Rows[last] = null!;
            }

            return true;
        }

        private void Append(Job job)
        {
            if (Count == Jobs.Length)
            {
                var size = Math.Max(16, Jobs.Length * 2);
                Jobs = Grow(Jobs, size);
                Rows = Grow(Rows, size);
                Requests = Grow(Requests, size);
                Stopping = Grow(Stopping, size);
                StartedTicks = Grow(StartedTicks, size);
                Ids = Grow(Ids, size);
                Priority = Grow(Priority, size);
                Preemptible = Grow(Preemptible, size);
                Project = Grow(Project, size);
                _beforeLast = Grow(_beforeLast, size);
                _gpus = Grow(_gpus, size);
                _lastStart = Grow(_lastStart, size);
                _lastEnd = Grow(_lastEnd, size);
                _lastBand = Grow(_lastBand, size);
                _bandFrom = Grow(_bandFrom, size);
                _bandUntil = Grow(_bandUntil, size);
                ReplicaCount = Grow(ReplicaCount, size);
                FirstNode = Grow(FirstNode, size);
                FirstDevices = Grow(FirstDevices, size);
                GrowGains(size);
            }

            var attempt = job.CurrentAttempt;
            if (!_rows.TryGetValue(job, out var row))
            {
                var placement = attempt?.Placement ?? [];
                var nodes = new int[placement.Count];
                var devices = new int[placement.Count];
                for (var r = 0; r < nodes.Length; r++)
                {
                    nodes[r] = _pass!._index.IndexOf(placement[r].Node);
                    devices[r] = placement[r].AcceleratorIndices.Count;
                }

                row = new Row(job, CapacityIndex.Request(_pass!._requests, job.Spec.Resources), nodes, devices);
                _rows[job] = row;
            }

            var slot = Count++;
            Jobs[slot] = job;
            Rows[slot] = row;
            Requests[slot] = row.Request;
            Stopping[slot] = job.Stop is not null;
            StartedTicks[slot] = (attempt?.StartedAt ?? DateTimeOffset.MinValue).UtcTicks;
            Ids[slot] = job.Id;
            Priority[slot] = job.Spec.Priority;
            Preemptible[slot] = job.Spec.Preemptible;
            if (!_projectNumbers.TryGetValue(job.Spec.Project, out var project))
            {
                project = ProjectNames.Count;
                _projectNumbers[job.Spec.Project] = project;
                ProjectNames.Add(job.Spec.Project);
            }

            Project[slot] = project;
            _slotOf[job] = slot;
            _gainCategory[slot] = UnknownGain;
            ReplicaCount[slot] = row.Nodes.Length;
            FirstNode[slot] = row.Nodes.Length > 0 ? row.Nodes[0] : -1;
            FirstDevices[slot] = row.Devices.Length > 0 ? row.Devices[0] : 0;
            if (_pass!._service is { } service)
            {
                if (!row.HasParts)
                {
                    if (job.Attempts.Count > 0)
                    {
                        (row.BeforeLast, row.Gpus) = service.RunningParts(job);
                        var last = job.Attempts[^1];
                        row.LastStartTicks = last.StartedAt.UtcTicks;
                        row.LastEndTicks = last.EndedAt?.UtcTicks ?? long.MaxValue;
                        row.HasAttempts = true;
                    }

                    row.HasParts = true;
                }

                _beforeLast[slot] = row.BeforeLast;
                _gpus[slot] = row.Gpus;
                _lastStart[slot] = row.LastStartTicks;
                _lastEnd[slot] = row.HasAttempts ? row.LastEndTicks : long.MinValue;
                _lastBand[slot] = 0;
                _bandFrom[slot] = long.MaxValue;
                _bandUntil[slot] = long.MinValue;
            }
        }

        private static T[] Grow<T>(T[] array, int size)
        {
            var grown = new T[size];
            Array.Copy(array, grown, array.Length);
            return grown;
        }

        /// <summary>
        /// The job's service band now, worked out on first ask in a pass: from the band last worked out while the
        /// clock is still short of when the service can reach the next threshold (see <see cref="_bandUntil"/>),
        /// else from the service itself (<see cref="ServiceAt"/>), as RunningService sums it.
        /// </summary>
        public int BandAt(int slot)
        {
            if (_band[slot] < 0)
            {
                var nowTicks = _pass!._snapshot.Now.UtcTicks;
                if (nowTicks < _bandUntil[slot] && nowTicks >= _bandFrom[slot])
                {
                    _band[slot] = _lastBand[slot];
                    return _band[slot];
                }

                var service = _pass._service!;
                var band = service.BandOf(ServiceAt(slot), _lastBand[slot]);
                _lastBand[slot] = band;
                _band[slot] = band;

                // The band holds until the service can reach the next threshold: the tick it would, less a margin far
                // above the sum's rounding (a ten-thousandth of a second), so that a pass before it may take the band
                // as it is. A job holding no devices, or one in the last band, keeps its band.
                _bandFrom[slot] = nowTicks;
                _bandUntil[slot] = long.MaxValue;
                var end = _lastEnd[slot];
                if (end == long.MaxValue && _gpus[slot] > 0 && band < service.Bands - 1)
                {
                    // Ticks after the start in double (under 2^53 for any run shorter than 28 years), the start added exactly.
                    var ticks = (service.UpperBound(band) - _beforeLast[slot]) / _gpus[slot] * TimeSpan.TicksPerSecond;
                    _bandUntil[slot] = ticks < 1e15 ? _lastStart[slot] + (long)ticks - 1000 : long.MaxValue;
                }
            }

            return _band[slot];
        }

        /// <summary>The job's attained service now (RunningService's sum, from the parts kept by slot; no attempt: 0), once per pass.</summary>
        public double ServiceAt(int slot)
        {
            if (_serviceKnown[slot])
            {
                return _service[slot];
            }

            var attained = 0.0;
            var end = _lastEnd[slot];
            if (end != long.MinValue)
            {
                end = end == long.MaxValue ? _pass!._snapshot.Now.UtcTicks : end;
                attained = _beforeLast[slot] + (_gpus[slot] * TimeSpan.FromTicks(end - _lastStart[slot]).TotalSeconds);
            }

            _service[slot] = attained;
            _serviceKnown[slot] = true;
            return attained;
        }

        /// <summary>The devices the whole gang holds, as <see cref="AttainedService.Gpus"/> counts them (with service bands).</summary>
        public int GpusAt(int slot) => _gpus[slot];

        /// <summary>Whether the job has an attempt (a running job always has; with service bands).</summary>
        public bool HasAttemptsAt(int slot) => _lastEnd[slot] != long.MinValue;

        /// <summary>Gives back on <paramref name="index"/> everything the job holds, as <see cref="CapacityIndex.Release(Job, ReplicaRequest)"/> does.</summary>
        public void Release(CapacityIndex index, int slot)
        {
            var placement = Jobs[slot].CurrentAttempt?.Placement ?? [];
            var nodes = Rows[slot].Nodes;
            for (var r = 0; r < nodes.Length; r++)
            {
                if (nodes[r] >= 0)
                {
                    index.Release(nodes[r], Requests[slot], placement[r].AcceleratorIndices);
                }
            }
        }

        /// <summary>Whether a node the job held could now take a replica: only those nodes changed when it ended.</summary>
        public bool FreesRoomFor(CapacityIndex index, int slot, ReplicaRequest replica, JobSpec spec)
        {
            foreach (var n in Rows[slot].Nodes)
            {
                if (n >= 0 && index.Reject(n, replica, spec.NodeSelector) is null)
                {
                    return true;
                }
            }

            return false;
        }
    }
}

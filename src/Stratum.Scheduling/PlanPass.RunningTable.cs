using Stratum.Core.Jobs;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

internal sealed partial class PlanPass
{
    private RunningTable? _table;

    /// <summary>The running jobs in flat arrays, filled on the first question that walks them in this pass.</summary>
    private RunningTable Table() => _table ??= _scratch.Table.Fill(this);

    /// <summary>
    /// The snapshot's running jobs in flat arrays: each job's request, the node numbers of its replicas, whether
    /// it is stopping or past the preemption cooldown, and (asked for lazily) its service band. The preemption
    /// bound, the victim order, the victim walk and the band wake-ups read these instead of hashing node names
    /// and resource vectors again per job and question: the first 20,000 jobs of the Philly replay asked the
    /// bound 179,000 times over about 250 running jobs each. The arrays belong to the policy's
    /// <see cref="Scratch"/> and are refilled, not reallocated, by the next pass.
    /// </summary>
    internal sealed class RunningTable
    {
        private PlanPass? _pass;

        public int Count { get; private set; }

        public Job[] Jobs { get; private set; } = [];

        public ReplicaRequest[] Requests { get; private set; } = [];

        /// <summary>Where each job's replicas start in <see cref="Node"/> (Count + 1 entries).</summary>
        public int[] Start { get; private set; } = [0];

        /// <summary>Node number of each placed replica, in placement order; -1 for a node the pass does not know.</summary>
        public int[] Node { get; private set; } = [];

        public bool[] Stopping { get; private set; } = [];

        /// <summary>Not stopping and started at or before the cooldown's cutoff: a job a preemption may take.</summary>
        public bool[] Ripe { get; private set; } = [];

        public long[] StartedTicks { get; private set; } = [];

        public double[] Service { get; private set; } = [];

        private int[] _band = [];

        // What does not change while a job object runs, by job object (kept across passes: most running jobs
        // are the same objects next pass): its request, its replicas' node numbers, the fixed parts of its service.
        private readonly Dictionary<Job, Row> _rows = new(ReferenceEqualityComparer.Instance);
        private object? _numbering;
        private Dictionary<Stratum.Core.Resources.ResourceVector, ReplicaRequest>? _requestsOf;

        public Row[] Rows { get; private set; } = [];

        internal sealed class Row(ReplicaRequest request, int[] nodes)
        {
            public ReplicaRequest Request { get; } = request;

            public int[] Nodes { get; } = nodes;

            public bool HasParts { get; set; }

            public double BeforeLast { get; set; }

            public int Gpus { get; set; }
        }

        public RunningTable Fill(PlanPass pass)
        {
            _pass = pass;
            var running = pass._snapshot.Running;
            Count = running.Count;

            // Node numbers hold for one layout, and requests for one request table; rows of jobs long gone are
            // dropped by starting again once they outnumber the running jobs.
            if (!ReferenceEquals(_numbering, pass._index.Numbering) || !ReferenceEquals(_requestsOf, pass._requests) || _rows.Count > (4 * Count) + 1024)
            {
                _rows.Clear();
                _numbering = pass._index.Numbering;
                _requestsOf = pass._requests;
            }

            if (Jobs.Length < Count)
            {
                var size = Math.Max(Count, Jobs.Length * 2);
                Jobs = new Job[size];
                Rows = new Row[size];
                Requests = new ReplicaRequest[size];
                Start = new int[size + 1];
                Stopping = new bool[size];
                Ripe = new bool[size];
                StartedTicks = new long[size];
                Service = new double[size];
                _band = new int[size];
            }

            var cutoff = pass._snapshot.Now - pass._options.PreemptionCooldown;
            var replicas = 0;
            for (var i = 0; i < Count; i++)
            {
                var job = running[i];
                Jobs[i] = job;
                var attempt = job.CurrentAttempt;
                var placement = attempt?.Placement ?? [];
                if (!_rows.TryGetValue(job, out var row))
                {
                    var nodes = new int[placement.Count];
                    for (var r = 0; r < nodes.Length; r++)
                    {
                        nodes[r] = pass._index.IndexOf(placement[r].Node);
                    }

                    row = new Row(CapacityIndex.Request(pass._requests, job.Spec.Resources), nodes);
                    _rows[job] = row;
                }

                Rows[i] = row;
                Requests[i] = row.Request;
                var started = attempt?.StartedAt ?? DateTimeOffset.MinValue;
                Stopping[i] = job.Stop is not null;
                Ripe[i] = job.Stop is null && started <= cutoff;
                StartedTicks[i] = started.UtcTicks;
                _band[i] = -1;
                Start[i] = replicas;
                if (Node.Length < replicas + row.Nodes.Length)
                {
                    var grown = new int[Math.Max(replicas + row.Nodes.Length, Node.Length * 2)];
                    Array.Copy(Node, grown, replicas);
                    Node = grown;
                }

                row.Nodes.CopyTo(Node, replicas);
                replicas += row.Nodes.Length;
            }

            Start[Count] = replicas;
            return this;
        }

        /// <summary>The job's service band now (its attained service in <see cref="Service"/>); worked out on first ask.</summary>
        public int BandAt(int slot)
        {
            if (_band[slot] < 0)
            {
                // RunningService's sum, from parts kept with the row: looking the job up for them on every pass was
                // a twentieth of a replay.
                var service = 0.0;
                var job = Jobs[slot];
                if (job.Attempts.Count > 0)
                {
                    var row = Rows[slot];
                    if (!row.HasParts)
                    {
                        (row.BeforeLast, row.Gpus) = _pass!._service!.RunningParts(job);
                        row.HasParts = true;
                    }

                    var last = job.Attempts[^1];
                    service = row.BeforeLast + (row.Gpus * ((last.EndedAt ?? _pass!._snapshot.Now) - last.StartedAt).TotalSeconds);
                }

                Service[slot] = service;
                _band[slot] = _pass!._service!.BandOf(service);
            }

            return _band[slot];
        }

        /// <summary>Gives back on <paramref name="index"/> everything the job holds, as <see cref="CapacityIndex.Release(Job, ReplicaRequest)"/> does.</summary>
        public void Release(CapacityIndex index, int slot)
        {
            var placement = Jobs[slot].CurrentAttempt?.Placement ?? [];
            for (var r = Start[slot]; r < Start[slot + 1]; r++)
            {
                if (Node[r] >= 0)
                {
                    index.Release(Node[r], Requests[slot], placement[r - Start[slot]].AcceleratorIndices);
                }
            }
        }

        /// <summary>Whether a node the job held could now take a replica: only those nodes changed when it ended.</summary>
        public bool FreesRoomFor(CapacityIndex index, int slot, ReplicaRequest replica, JobSpec spec)
        {
            for (var r = Start[slot]; r < Start[slot + 1]; r++)
            {
                if (Node[r] >= 0 && index.Reject(Node[r], replica, spec.NodeSelector) is null)
                {
                    return true;
                }
            }

            return false;
        }
    }
}

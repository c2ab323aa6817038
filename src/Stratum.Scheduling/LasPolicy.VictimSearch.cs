using Stratum.Core.Jobs;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

public sealed partial class LasPolicy
{
    /// <summary>
    /// The indexed walk's victim search: decides exactly what <see cref="ChooseVictims"/> decides, but
    /// counts GPUs per node before asking the placer. A node can take at most (its free GPUs of the
    /// type plus the GPUs released victims hold there) / (the replica's GPUs) replicas, whatever else the
    /// placer checks, so:
    /// <list type="bullet">
    /// <item>a search is turned down without releasing anyone when, with every ripe victim of a worse
    /// queue released, the nodes together still could not hold the gang (most searches of a replay end so);</item>
    /// <item>a node is copied and shown to the placer only once that count says it could take a replica:
    /// victims are released worst first, one by one, mostly from other nodes, and copying each node they
    /// were on for every search was most of a LAS replay's time.</item>
    /// </list>
    /// Only for jobs asking for one accelerator type; others go to <see cref="ChooseVictims"/>.
    /// One per pass; it follows the pass's free capacity as it shrinks and the victims as they are taken.
    /// </summary>
    private sealed class VictimSearch
    {
        private readonly LasPolicy _policy;
        private readonly QueuePass _pass;
        private readonly Func<int, IEnumerable<(Job Job, int Queue)>> _worseThan;
        private readonly Func<Job, bool> _isRipe;
        private readonly LasRunningIndex? _running;
        private readonly IReadOnlyDictionary<string, int> _nodeIndex;

        // Per accelerator type asked about in this pass: [queue][node] the GPUs of that type that ripe
        // victims of queues worse than queue hold on the node.
        private readonly Dictionary<string, int[][]> _worse = new(StringComparer.Ordinal);

        // Scratch of one search, by node: GPUs of the searched type released there, the released
        // victims' replicas there, and (gangs) how many replicas the placer would put there now.
        private readonly int[] _released;
        private readonly List<(Job Victim, ReplicaPlacement Replica)>?[] _replicasOn;
        private readonly int[] _exact;
        private readonly bool[] _stale;

        // Singles: whether the placer accepted the replica on the node with exactly the victims now released there.
        private readonly bool[] _accepts;
        private readonly List<int> _touched = [];

        /// <param name="policy">The policy searching.</param>
        /// <param name="pass">The pass it searches for.</param>
        /// <param name="worseThan">Victims of queues worse than a queue, worst first, as ChooseVictims walks them.</param>
        /// <param name="isRipe">Whether a victim is past its minimum run.</param>
        /// <param name="running">The running index, when victims come from it: it then keeps the per-node counts.</param>
        public VictimSearch(LasPolicy policy, QueuePass pass, Func<int, IEnumerable<(Job Job, int Queue)>> worseThan, Func<Job, bool> isRipe, LasRunningIndex? running)
        {
            _policy = policy;
            _pass = pass;
            _worseThan = worseThan;
            _isRipe = isRipe;
            _running = running;
            _nodeIndex = running?.NodeIndex ?? policy.NodeIndexFor(pass.Free);
            var count = pass.Free.Nodes.Count;
            _released = new int[count];
            _replicasOn = new List<(Job, ReplicaPlacement)>?[count];
            _exact = new int[count];
            _stale = new bool[count];
            _accepts = new bool[count];
        }

        /// <summary>
        /// False when the job's gang cannot be placed in what is free now (too few GPUs of its type on
        /// the nodes, counted per node), so a placement need not be tried; true when it may be.
        /// </summary>
        public bool MayPlaceNow(Job job)
        {
            var request = ReplicaRequest.For(job.Spec.Resources);
            if (request.Types.Count != 1 || request.Counts[0] <= 0)
            {
                return true;
            }

            var (type, count, replicas) = (request.Types[0], request.Counts[0], job.Spec.Replicas);
            var nodes = _pass.Free.Nodes;
            var room = 0;
            for (var n = 0; n < nodes.Count && room < replicas; n++)
            {
                room += Math.Min(replicas, nodes[n].FreeAccelerators(type) / count);
            }

            return room >= replicas;
        }

        /// <summary>
        /// What <see cref="ChooseVictims"/> would choose for <paramref name="job"/> of <paramref name="queue"/>,
        /// with the room promised to it; empty when no victims make room (the caller asks for the wake-up
        /// of the first unripe victim then, as ChooseVictims does); null when the job asks for other than
        /// one accelerator type, which this search does not count.
        /// </summary>
        public List<Job>? Choose(Job job, int queue)
        {
            var request = ReplicaRequest.For(job.Spec.Resources);
            if (request.Types.Count != 1 || request.Counts[0] <= 0)
            {
                return null;
            }

            var (type, count, replicas) = (request.Types[0], request.Counts[0], job.Spec.Replicas);
            var nodes = _pass.Free.Nodes;
            var worse = WorseThan(type, queue);
            var bound = 0;
            for (var n = 0; n < nodes.Count && bound < replicas; n++)
            {
                bound += Math.Min(replicas, (nodes[n].FreeAccelerators(type) + worse[n]) / count);
            }

            if (bound < replicas)
            {
                return [];
            }

            try
            {
                return Search(job, queue, request, type, count, replicas);
            }
            finally
            {
                foreach (var n in _touched)
                {
                    _released[n] = 0;
                    _replicasOn[n]!.Clear();
                    _stale[n] = false;
                    _accepts[n] = false;
                }

                _touched.Clear();
            }
        }

        /// <summary>The victim, just taken by the pass, no longer counts as room for later searches.</summary>
        public void Taken(Job victim, int victimQueue)
        {
            if (_running is not null)
            {
                // The running index drops the victim and its counts itself.
                return;
            }

            foreach (var (type, byQueue) in _worse)
            {
                Add(byQueue, victim, victimQueue, type, -1);
            }
        }

        private List<Job> Search(Job job, int queue, ReplicaRequest request, string type, int count, int replicas)
        {
            var pass = _pass;
            var nodes = pass.Free.Nodes;
            var single = replicas == 1;
            var needs = QueuePass.Accelerators(job.Spec);
            var freeNow = FreeAcceleratorsAnyState(pass.Free);
            var released = 0;
            var chosen = new List<Job>();
            bool? fitsBefore = null;
            var touchedAccepts = false;

            // Gangs: an upper bound of the replicas the nodes could take (GPUs per node), and the exact
            // count the placer gives, per node, worked out only once the bound reaches the gang.
            var boundRoom = 0;
            for (var n = 0; n < nodes.Count; n++)
            {
                boundRoom += NodeBound(n, 0);
            }

            var exactKnown = false;
            int NodeBound(int n, int released) => Math.Min(replicas, (nodes[n].FreeAccelerators(type) + released) / count);
            bool FitsSingle() => (fitsBefore ??= AnyNodeAccepts(pass.Placer, pass.Free, request)) || touchedAccepts;
            bool FitsGang()
            {
                if (boundRoom < replicas)
                {
                    return false;
                }

                if (!exactKnown)
                {
                    for (var n = 0; n < nodes.Count; n++)
                    {
                        _exact[n] = ReplicasFit(pass.Placer, nodes[n], request, replicas);
                    }

                    exactKnown = true;
                }

                var room = 0;
                for (var n = 0; n < nodes.Count; n++)
                {
                    if (_stale[n])
                    {
                        _exact[n] = ReplicasFit(pass.Placer, Released(n, skip: null), request, replicas);
                        _stale[n] = false;
                    }

                    room += _exact[n];
                }

                return room >= replicas;
            }

            var fits = false;
            foreach (var (candidate, candidateQueue) in _worseThan(queue))
            {
                if (candidateQueue <= queue)
                {
                    break;
                }

                if (!_isRipe(candidate))
                {
                    continue;
                }

                chosen.Add(candidate);
                released += QueuePass.Accelerators(candidate.Spec);
                var perReplica = CountOf(candidate, type);
                foreach (var replica in candidate.CurrentAttempt?.Placement ?? [])
                {
                    if (!_nodeIndex.TryGetValue(replica.Node, out var n))
                    {
                        continue;
                    }

                    if (_replicasOn[n] is not { Count: > 0 })
                    {
                        _touched.Add(n);
                        _replicasOn[n] ??= [];
                    }

                    boundRoom -= NodeBound(n, _released[n]);
                    _released[n] += perReplica;
                    boundRoom += NodeBound(n, _released[n]);
                    _replicasOn[n]!.Add((candidate, replica));
                    _stale[n] = true;

                    // A node only gains room as victims are released, so one that took the replica after
                    // an earlier release still takes it: the nodes this victim was on are enough to check.
                    _accepts[n] = false;
                    if (single && !touchedAccepts && nodes[n].FreeAccelerators(type) + _released[n] >= count)
                    {
                        touchedAccepts = _accepts[n] = pass.Placer.Accepts(Released(n, skip: null), request);
                    }
                }

                if (freeNow + released >= needs && (single ? FitsSingle() : FitsGang()))
                {
                    fits = true;
                    break;
                }
            }

            if (!fits)
            {
                return [];
            }

            // Spare, best-ranked first, every victim the job can do without.
            for (var i = chosen.Count - 2; i >= 0; i--)
            {
                var spared = chosen[i];
                var without = QueuePass.Accelerators(spared.Spec);
                if (freeNow + released - without < needs)
                {
                    continue;
                }

                var trialFits = single ? SingleFitsWithout(spared, request, type, count, ref fitsBefore) : GangFitsWithout(spared, request, type, count, replicas, boundRoom);
                if (!trialFits)
                {
                    continue;
                }

                chosen.RemoveAt(i);
                released -= without;
                var perReplica = CountOf(spared, type);
                foreach (var n in _touched)
                {
                    var on = _replicasOn[n]!;
                    var removed = on.RemoveAll(r => ReferenceEquals(r.Victim, spared));
                    if (removed > 0)
                    {
                        boundRoom -= NodeBound(n, _released[n]);
                        _released[n] -= perReplica * removed;
                        boundRoom += NodeBound(n, _released[n]);
                        _stale[n] = true;
                        _accepts[n] = false;
                    }
                }
            }

            var promised = pass.Free.Clone();
            foreach (var victim in chosen)
            {
                promised.Release(victim);
            }

            pass.Placer.PlaceGang(promised, job.Spec);
            pass.Free.RestrictTo(promised);
            return chosen;
        }

        // Whether a node the other chosen victims were on takes the replica without spared's release.
        private bool SingleFitsWithout(Job spared, ReplicaRequest request, string type, int count, ref bool? fitsBefore)
        {
            var nodes = _pass.Free.Nodes;
            var accepts = false;
            foreach (var n in _touched)
            {
                var others = 0;
                var gpus = 0;
                var withSpared = false;
                foreach (var (victim, _) in _replicasOn[n]!)
                {
                    if (!ReferenceEquals(victim, spared))
                    {
                        others++;
                        gpus += CountOf(victim, type);
                    }
                    else
                    {
                        withSpared = true;
                    }
                }

                // A node spared was not on keeps what it had; the placer's answer for it then still holds.
                if (others > 0 && !withSpared && _accepts[n])
                {
                    accepts = true;
                    break;
                }

                if (others > 0 && nodes[n].FreeAccelerators(type) + gpus >= count && _pass.Placer.Accepts(Released(n, spared), request))
                {
                    accepts = true;
                    break;
                }
            }

            fitsBefore ??= AnyNodeAccepts(_pass.Placer, _pass.Free, request);
            return fitsBefore.Value || accepts;
        }

        // Whether the nodes could take the gang without spared's release (the exact counts are current).
        private bool GangFitsWithout(Job spared, ReplicaRequest request, string type, int count, int replicas, int boundRoom)
        {
            var nodes = _pass.Free.Nodes;
            var sparedGpus = CountOf(spared, type);
            var bound = boundRoom;
            foreach (var n in _touched)
            {
                var on = 0;
                foreach (var (victim, _) in _replicasOn[n]!)
                {
                    on += ReferenceEquals(victim, spared) ? 1 : 0;
                }

                if (on > 0)
                {
                    var free = nodes[n].FreeAccelerators(type);
                    bound += Math.Min(replicas, (free + _released[n] - sparedGpus * on) / count) - Math.Min(replicas, (free + _released[n]) / count);
                }
            }

            if (bound < replicas)
            {
                return false;
            }

            var room = 0;
            for (var n = 0; n < nodes.Count; n++)
            {
                var hasSpared = false;
                foreach (var (victim, _) in _replicasOn[n] ?? [])
                {
                    hasSpared |= ReferenceEquals(victim, spared);
                }

                if (hasSpared)
                {
                    room += ReplicasFit(_pass.Placer, Released(n, spared), request, replicas);
                    continue;
                }

                if (_stale[n])
                {
                    _exact[n] = ReplicasFit(_pass.Placer, Released(n, skip: null), request, replicas);
                    _stale[n] = false;
                }

                room += _exact[n];
            }

            return room >= replicas;
        }

        // A copy of node n of the pass with the released victims' replicas there given back (but spared's).
        private NodeFree Released(int n, Job? skip)
        {
            var node = _pass.Free.Nodes[n].Clone();
            foreach (var (victim, replica) in _replicasOn[n] ?? [])
            {
                if (!ReferenceEquals(victim, skip))
                {
                    node.Release(victim.Spec.Resources, replica.AcceleratorIndices);
                }
            }

            return node;
        }

        private int[] WorseThan(string type, int queue)
        {
            if (_running is not null)
            {
                return _running.WorseGpusOnNodes(type)[queue];
            }

            if (!_worse.TryGetValue(type, out var byQueue))
            {
                byQueue = new int[_policy.Options.QueueThresholdsGpuSeconds.Count + 1][];
                for (var q = 0; q < byQueue.Length; q++)
                {
                    byQueue[q] = new int[_pass.Free.Nodes.Count];
                }

                foreach (var (victim, victimQueue) in _worseThan(-1))
                {
                    if (_isRipe(victim))
                    {
                        Add(byQueue, victim, victimQueue, type, +1);
                    }
                }

                _worse[type] = byQueue;
            }

            return byQueue[queue];
        }

        private void Add(int[][] byQueue, Job victim, int victimQueue, string type, int sign)
        {
            var perReplica = CountOf(victim, type);
            if (perReplica == 0)
            {
                return;
            }

            foreach (var replica in victim.CurrentAttempt?.Placement ?? [])
            {
                if (_nodeIndex.TryGetValue(replica.Node, out var n))
                {
                    for (var q = 0; q < victimQueue; q++)
                    {
                        byQueue[q][n] += sign * perReplica;
                    }
                }
            }
        }

        private static int CountOf(Job job, string type)
        {
            var request = ReplicaRequest.For(job.Spec.Resources);
            for (var t = 0; t < request.Types.Count; t++)
            {
                if (string.Equals(request.Types[t], type, StringComparison.Ordinal))
                {
                    return request.Counts[t];
                }
            }

            return 0;
        }
    }

    // Node positions in a pass's free capacity by name, kept while the same node objects come in the same order.
    private (NodeFree[] Nodes, Dictionary<string, int> Index)? _nodeIndex;

    private Dictionary<string, int> NodeIndexFor(FreeCapacity free)
    {
        var nodes = free.Nodes;
        if (_nodeIndex is { } cached && cached.Nodes.Length == nodes.Count)
        {
            var same = true;
            for (var n = 0; n < nodes.Count && same; n++)
            {
                same = ReferenceEquals(cached.Nodes[n].Node, nodes[n].Node);
            }

            if (same)
            {
                return cached.Index;
            }
        }

        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var n = 0; n < nodes.Count; n++)
        {
            index[nodes[n].Name] = n;
        }

        _nodeIndex = ([.. nodes], index);
        return index;
    }

    internal bool IsRipeAt(Job running, DateTimeOffset now) => (running.CurrentAttempt?.StartedAt ?? now) + Options.MinRunBeforePreemption <= now;
}

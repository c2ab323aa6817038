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
    /// One per policy, reset for each pass (its per-node scratch is kept); within a pass it follows the
    /// pass's free capacity as it shrinks and the victims as they are taken.
    /// </summary>
    private sealed class VictimSearch
    {
        private readonly LasPolicy _policy;
        private QueuePass _pass;
        private Func<int, IEnumerable<(Job Job, int Queue)>> _worseThan;
        private Func<Job, bool> _isRipe;
        private LasRunningIndex? _running;
        private IReadOnlyDictionary<string, int> _nodeIndex;

        // Per accelerator type asked about in this pass: [queue][node] the GPUs of that type that ripe
        // victims of queues worse than queue hold on the node.
        private readonly Dictionary<string, int[][]> _worse = new(StringComparer.Ordinal);

        // Scratch of one search, by node: GPUs of the searched type released there, the released
        // victims' replicas there, and (gangs) how many replicas the placer would put there now.
        // Kept from pass to pass (a replay makes hundreds of thousands): each search leaves them as it found them.
        private int[] _released = [];
        private List<(Job Victim, ReplicaPlacement Replica)>?[] _replicasOn = [];
        private int[] _exact = [];
        private bool[] _stale = [];

        // Singles: whether the placer accepted the replica on the node with exactly the victims now released
        // there (_accepts), or is known to turn it down then (_rejects); both forgotten when those victims change.
        private bool[] _accepts = [];
        private bool[] _rejects = [];

        // The node with exactly the victims now released there given back, built once per node and search
        // and then given each further victim released there, instead of copied afresh for every question.
        private NodeFree?[] _withReleased = [];

        // Nodes the victim being spared is on are marked with the current stamp.
        private int[] _sparedMark = [];
        private int _stamp;
        private readonly List<int> _touched = [];
        private readonly List<int> _acceptingNodes = [];
        private readonly List<Job> _chosen = [];
        private readonly List<int> _candidates = [];

        // Nodes marked stale since the exact counts were last brought up to date (gangs), and the distinct
        // nodes of the victim being spared: a gang's search may release and spare hundreds of victims, and
        // walking every touched node for each of them was most of its cost.
        private readonly List<int> _staleNodes = [];
        private readonly List<int> _sparedNodes = [];
        private readonly List<NodeFree> _candidateNodes = [];

        // The nodes spared is on, each as it would be without spared's release, with what the placer said
        // of it there (accepts for singles, replicas that fit for gangs); when spared is spared, that is the
        // node's state from then on.
        private readonly List<(int Node, NodeFree? Without, int Answer)> _trials = [];

        // Gangs: the sum of _exact over every node, kept as stale nodes are counted again.
        private int _exactTotal;

        // Copies of the pass's nodes a search made, by node, given back when it ends for the next search to
        // write over: a search copies a node for each victim it releases there, millions over a replay.
        private List<NodeFree>?[] _spares = [];
        private readonly List<(int Node, NodeFree Copy)> _lent = [];

        // Spare copies kept per node: a search holds at most a few copies of one node at once.
        private const int MaxSparesPerNode = 4;

        public VictimSearch(LasPolicy policy, QueuePass pass, Func<int, IEnumerable<(Job Job, int Queue)>> worseThan, Func<Job, bool> isRipe, LasRunningIndex? running)
        {
            _policy = policy;
            _pass = pass;
            _worseThan = worseThan;
            _isRipe = isRipe;
            _running = running;
            _nodeIndex = null!;
            Reset(pass, worseThan, isRipe, running);
        }

        /// <param name="pass">The pass it searches for.</param>
        /// <param name="worseThan">Victims of queues worse than a queue, worst first, as ChooseVictims walks them.</param>
        /// <param name="isRipe">Whether a victim is past its minimum run.</param>
        /// <param name="running">The running index, when victims come from it: it then keeps the per-node counts.</param>
        public void Reset(QueuePass pass, Func<int, IEnumerable<(Job Job, int Queue)>> worseThan, Func<Job, bool> isRipe, LasRunningIndex? running)
        {
            _pass = pass;
            _worseThan = worseThan;
            _isRipe = isRipe;
            _running = running;
            _nodeIndex = running?.NodeIndex ?? _policy.NodeIndexFor(pass.Free);
            _worse.Clear();
            var count = pass.Free.Nodes.Count;
            if (_released.Length != count)
            {
                _released = new int[count];
                _replicasOn = new List<(Job, ReplicaPlacement)>?[count];
                _exact = new int[count];
                _stale = new bool[count];
                _accepts = new bool[count];
                _rejects = new bool[count];
                _withReleased = new NodeFree?[count];
                _sparedMark = new int[count];
                _spares = new List<NodeFree>?[count];
            }
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
                    _rejects[n] = false;
                    _withReleased[n] = null;
                }

                _touched.Clear();
                foreach (var (n, copy) in _lent)
                {
                    var spares = _spares[n] ??= [];
                    if (spares.Count < MaxSparesPerNode)
                    {
                        spares.Add(copy);
                    }
                }

                _lent.Clear();
                _candidateNodes.Clear();
                _acceptingNodes.Clear();
                _chosen.Clear();
                _staleNodes.Clear();
                _sparedNodes.Clear();
                _trials.Clear();
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

            // Victims are released until the job fits (over a dozen, in a LAS replay) and most are spared
            // again: they are gathered in a list kept from search to search, and only those kept are copied out.
            var chosen = _chosen;
            chosen.Clear();
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
            bool FitsSingle() => (fitsBefore ??= FitsBeforeAnyRelease(request, type, count)) || touchedAccepts;
            bool FitsGang()
            {
                if (boundRoom < replicas)
                {
                    return false;
                }

                if (!exactKnown)
                {
                    _exactTotal = 0;
                    for (var n = 0; n < nodes.Count; n++)
                    {
                        _exact[n] = ReplicasFit(pass.Placer, nodes[n], request, replicas);
                        _exactTotal += _exact[n];
                    }

                    exactKnown = true;
                }

                // Only nodes victims were on change; the total follows them.
                CountStaleAgain(request, replicas, type, count);
                return _exactTotal >= replicas;
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
                var candidatePlacement = candidate.CurrentAttempt?.Placement ?? [];
                for (var at = 0; at < candidatePlacement.Count; at++)
                {
                    var replica = candidatePlacement[at];
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
                    _withReleased[n]?.Release(candidate.Spec.Resources, replica.AcceleratorIndices);
                    MarkStale(n);
                    _accepts[n] = false;
                    _rejects[n] = false;

                    // A node only gains room as victims are released, so one that took the replica after
                    // an earlier release still takes it: the nodes this victim was on are enough to check.
                    if (single && !touchedAccepts)
                    {
                        touchedAccepts = Remember(n, nodes[n].FreeAccelerators(type) + _released[n] >= count && pass.Placer.Accepts(Released(n, skip: null), request));
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

                MarkNodesOf(spared);
                var trialFits = single ? SingleFitsWithout(spared, request, type, count, ref fitsBefore) : GangFitsWithout(spared, request, type, count, replicas, boundRoom);
                if (!trialFits)
                {
                    continue;
                }

                chosen.RemoveAt(i);
                released -= without;
                var perReplica = CountOf(spared, type);
                var sparedPlacement = spared.CurrentAttempt?.Placement ?? [];
                for (var at = 0; at < sparedPlacement.Count; at++)
                {
                    var replica = sparedPlacement[at];
                    if (!_nodeIndex.TryGetValue(replica.Node, out var n) || _replicasOn[n] is not { } on)
                    {
                        continue;
                    }

                    var removed = RemoveVictim(on, spared);
                    if (removed > 0)
                    {
                        boundRoom -= NodeBound(n, _released[n]);
                        _released[n] -= perReplica * removed;
                        boundRoom += NodeBound(n, _released[n]);
                        MarkStale(n);
                        _accepts[n] = false;
                        _rejects[n] = false;
                        _withReleased[n] = null;
                    }
                }

                // What a trial worked out for a node spared was on is that node as it is now.
                foreach (var (n, node, answer) in _trials)
                {
                    _withReleased[n] = node;
                    if (!single)
                    {
                        _exactTotal += answer - _exact[n];
                        _exact[n] = answer;
                        _stale[n] = false;
                    }
                }
            }

            if (!(single && fitsBefore == false && PromiseSingle(request)))
            {
                var promised = pass.Free.Clone();
                foreach (var victim in chosen)
                {
                    promised.Release(victim);
                }

                pass.Placer.PlaceGang(promised, job.Spec, countRejections: false);
                pass.Free.RestrictTo(promised);
                promised.Recycle();
            }

            return [.. chosen];
        }

        /// <summary>
        /// Promises a single-replica job the node the placer would give it with the kept victims released,
        /// as placing it over a copy of every node and keeping what both leave free does, for less: no
        /// node took the replica before any release, so only the nodes kept victims are on can, and the
        /// placer chooses among those alone (in node order, as it walks them all). Of the nodes released,
        /// only the one the job goes to loses anything to the promise: the others keep what they had free.
        /// False, with nothing changed, when none of them takes it after all.
        /// </summary>
        private bool PromiseSingle(ReplicaRequest request)
        {
            _candidates.Clear();
            foreach (var n in _touched)
            {
                if (_replicasOn[n] is { Count: > 0 })
                {
                    _candidates.Add(n);
                }
            }

            _candidates.Sort();
            _candidateNodes.Clear();
            foreach (var n in _candidates)
            {
                _candidateNodes.Add(Released(n, skip: null));
            }

            var best = _pass.Placer.SelectNode(_candidateNodes, request, rejections: null);
            if (best < 0)
            {
                return false;
            }

            // Only that node differs from the pass's free capacity once its victims are released and the
            // replica taken, so it alone is worked on and restricted (no copy of the whole capacity).
            var node = _candidates[best];
            var promised = CopyOfNode(node);
            foreach (var (victim, replica) in _replicasOn[node]!)
            {
                promised.Release(victim.Spec.Resources, replica.AcceleratorIndices);
            }

            promised.Take(request, collect: false);
            _pass.Free.RestrictTo(node, promised);
            _policy.NarrowPromises++;
            return true;
        }

        // Records whether the placer takes the replica on node n with exactly the victims now released there.
        private bool Remember(int n, bool accepts)
        {
            _accepts[n] = accepts;
            _rejects[n] = !accepts;
            if (accepts)
            {
                _acceptingNodes.Add(n);
            }

            return accepts;
        }

        private void MarkNodesOf(Job victim)
        {
            _trials.Clear();
            _sparedNodes.Clear();
            if (++_stamp == int.MaxValue)
            {
                Array.Clear(_sparedMark);
                _stamp = 1;
            }

            var victimPlacement = victim.CurrentAttempt?.Placement ?? [];
            for (var at = 0; at < victimPlacement.Count; at++)
            {
                var replica = victimPlacement[at];
                if (_nodeIndex.TryGetValue(replica.Node, out var n) && _sparedMark[n] != _stamp)
                {
                    _sparedMark[n] = _stamp;
                    _sparedNodes.Add(n);
                }
            }
        }

        private static int RemoveVictim(List<(Job Victim, ReplicaPlacement Replica)> on, Job victim)
        {
            var kept = 0;
            for (var r = 0; r < on.Count; r++)
            {
                if (!ReferenceEquals(on[r].Victim, victim))
                {
                    on[kept++] = on[r];
                }
            }

            var removed = on.Count - kept;
            on.RemoveRange(kept, removed);
            return removed;
        }

        private void MarkStale(int n)
        {
            if (!_stale[n])
            {
                _stale[n] = true;
                _staleNodes.Add(n);
            }
        }

        // Counts again the replicas the placer would put on each node whose released victims changed. The
        // placer puts none where the GPUs (free plus released) are short of one replica: such a node is not copied.
        private void CountStaleAgain(ReplicaRequest request, int replicas, string type, int count)
        {
            var nodes = _pass.Free.Nodes;
            foreach (var n in _staleNodes)
            {
                if (_stale[n])
                {
                    var now = (nodes[n].FreeAccelerators(type) + _released[n]) / count > 0
                        ? ReplicasFit(_pass.Placer, Released(n, skip: null), request, replicas)
                        : 0;
                    _exactTotal += now - _exact[n];
                    _exact[n] = now;
                    _stale[n] = false;
                }
            }

            _staleNodes.Clear();
        }

        // Whether a node the other chosen victims are on takes the replica without spared's release (the
        // nodes spared is on are marked). Any node that does will do, so nodes already known to take it
        // come first, and what is learnt about nodes spared is not on is kept for the next question.
        private bool SingleFitsWithout(Job spared, ReplicaRequest request, string type, int count, ref bool? fitsBefore)
        {
            foreach (var n in _acceptingNodes)
            {
                if (_accepts[n] && _sparedMark[n] != _stamp && _replicasOn[n] is { Count: > 0 })
                {
                    return true;
                }
            }

            var nodes = _pass.Free.Nodes;
            foreach (var n in _touched)
            {
                var on = _replicasOn[n]!;
                if (_sparedMark[n] != _stamp)
                {
                    if (on.Count == 0 || _rejects[n])
                    {
                        continue;
                    }

                    if (_accepts[n] || Remember(n, nodes[n].FreeAccelerators(type) + _released[n] >= count && _pass.Placer.Accepts(Released(n, skip: null), request)))
                    {
                        return true;
                    }

                    continue;
                }

                var others = 0;
                var gpus = 0;
                foreach (var (victim, _) in on)
                {
                    if (!ReferenceEquals(victim, spared))
                    {
                        others++;
                        gpus += CountOf(victim, type);
                    }
                }

                if (others > 0 && nodes[n].FreeAccelerators(type) + gpus >= count)
                {
                    var trial = Released(n, spared);
                    _trials.Add((n, trial, 0));
                    if (_pass.Placer.Accepts(trial, request))
                    {
                        return true;
                    }
                }
            }

            fitsBefore ??= FitsBeforeAnyRelease(request, type, count);
            return fitsBefore.Value;
        }

        // Whether a node takes the replica with nothing released. A node with fewer free accelerators of the
        // type than the replica asks for cannot (as MayPlaceNow counts), and in a pass that goes looking for
        // victims that is mostly every node: the placer is asked only when one has them.
        private bool FitsBeforeAnyRelease(ReplicaRequest request, string type, int count)
        {
            var nodes = _pass.Free.Nodes;
            for (var n = 0; n < nodes.Count; n++)
            {
                if (nodes[n].FreeAccelerators(type) >= count)
                {
                    return AnyNodeAccepts(_pass.Placer, _pass.Free, request);
                }
            }

            return false;
        }

        // Whether the nodes could take the gang without spared's release (the nodes spared is on are
        // marked; the exact counts are kept for every other node).
        private bool GangFitsWithout(Job spared, ReplicaRequest request, string type, int count, int replicas, int boundRoom)
        {
            var nodes = _pass.Free.Nodes;
            var sparedGpus = CountOf(spared, type);
            var bound = boundRoom;
            foreach (var n in _sparedNodes)
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

            CountStaleAgain(request, replicas, type, count);
            var room = _exactTotal;
            foreach (var n in _sparedNodes)
            {
                if (_replicasOn[n] is not { Count: > 0 } on)
                {
                    continue;
                }

                var others = 0;
                foreach (var (victim, _) in on)
                {
                    others += ReferenceEquals(victim, spared) ? 0 : CountOf(victim, type);
                }

                // No copy of a node whose GPUs could not hold one replica anyway.
                var trial = (nodes[n].FreeAccelerators(type) + others) / count > 0 ? Released(n, spared) : null;
                var fit = trial is null ? 0 : ReplicasFit(_pass.Placer, trial, request, replicas);
                _trials.Add((n, trial, fit));
                room += fit - _exact[n];
            }

            return room >= replicas;
        }

        // Node n of the pass with the released victims' replicas there given back (but spared's). Without
        // one to spare, the copy is kept and given each further victim released there.
        private NodeFree Released(int n, Job? skip)
        {
            if (skip is null && _withReleased[n] is { } kept)
            {
                return kept;
            }

            var node = CopyOfNode(n);
            foreach (var (victim, replica) in _replicasOn[n] ?? [])
            {
                if (!ReferenceEquals(victim, skip))
                {
                    node.Release(victim.Spec.Resources, replica.AcceleratorIndices);
                }
            }

            if (skip is null)
            {
                _withReleased[n] = node;
            }

            return node;
        }

        // A working copy of node n of the pass, written over a spare one when there is one; given back when the search ends.
        private NodeFree CopyOfNode(int n)
        {
            NodeFree? reuse = null;
            if (_spares[n] is { Count: > 0 } spares)
            {
                reuse = spares[^1];
                spares.RemoveAt(spares.Count - 1);
            }

            var copy = _pass.Free.Nodes[n].CopyInto(reuse);
            _lent.Add((n, copy));
            return copy;
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

            var victimPlacement = victim.CurrentAttempt?.Placement ?? [];
            for (var at = 0; at < victimPlacement.Count; at++)
            {
                var replica = victimPlacement[at];
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

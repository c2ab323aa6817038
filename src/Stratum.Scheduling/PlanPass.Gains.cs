namespace Stratum.Scheduling;

internal sealed partial class PlanPass
{
    /// <summary>
    /// The preemption bound's gains (see <see cref="SumGains"/>) followed from pass to pass for the common question:
    /// no cohort anywhere (every project's jobs equally open to service preemption), no mates to reclaim from,
    /// nothing promised yet. A running job's part in them changes only when it joins or leaves the table, when it
    /// ripens (its cooldown ends) and when its band moves (at a time the band's own bound tells), so each pass
    /// works out again only the jobs whose part may have changed, where it walked every running job once a pass
    /// (a tenth of a replay). <see cref="PassShortcuts"/> off, or any other question, sums them the long way.
    /// </summary>
    internal sealed partial class RunningTable
    {
        private const int UnknownGain = int.MinValue;
        private const int NoGain = -1;
        private const int AlwaysGain = -2;

        // Per slot: the part it has in _gains (a band, AlwaysGain, NoGain, or UnknownGain), and the clock range
        // over which that part holds.
        private int[] _gainCategory = [];
        private long[] _gainFrom = [];
        private long[] _gainUntil = [];
        private FollowedGains? _gains;

        private void GrowGains(int size)
        {
            _gainCategory = Grow(_gainCategory, size);
            _gainFrom = Grow(_gainFrom, size);
            _gainUntil = Grow(_gainUntil, size);
        }

        /// <summary>A stopped job's part leaves the sums (before its slot is written over).</summary>
        private void LeaveGains(int slot)
        {
            if (_gains is not null && _gainCategory[slot] != UnknownGain)
            {
                AddPart(_gains, slot, _gainCategory[slot], -1);
            }

            _gainCategory[slot] = UnknownGain;
        }

        /// <summary>The last slot's part moves with it into a stopped job's place.</summary>
        private void MoveGains(int slot, int last)
        {
            if (slot != last)
            {
                _gainCategory[slot] = _gainCategory[last];
                _gainFrom[slot] = _gainFrom[last];
                _gainUntil[slot] = _gainUntil[last];
            }
        }

        /// <summary>
        /// The gains for a job of <paramref name="priority"/> asking for <paramref name="type"/>, with no cohort, no mates
        /// and nothing promised: per node the devices jobs it may take whatever its band give back, and per band (not yet
        /// summed from the worst down) those of its priority in that band.
        /// </summary>
        public FollowedGains FollowGains(int priority, string type, int nodes, int bands, TimeSpan cooldown)
        {
            var service = _pass!._service is not null;
            if (_gains is null || _gains.Priority != priority || _gains.Type != type || _gains.Nodes != nodes || _gains.Bands != bands
                || _gains.Service != service)
            {
                _gains = new FollowedGains(priority, type, nodes, bands, service);
                Array.Fill(_gainCategory, UnknownGain, 0, Count);
            }

            var gains = _gains;
            var now = _pass._snapshot.Now.UtcTicks;
            for (var i = 0; i < Count; i++)
            {
                var known = _gainCategory[i];
                if (known != UnknownGain && now < _gainUntil[i] && now >= _gainFrom[i])
                {
                    continue;
                }

                var (category, until) = GainCategory(i, priority, service, cooldown, now);
                if (category == known)
                {
                    _gainFrom[i] = now;
                    _gainUntil[i] = until;
                    continue;
                }

                if (known != UnknownGain)
                {
                    AddPart(gains, i, known, -1);
                }

                AddPart(gains, i, category, +1);
                _gainCategory[i] = category;
                _gainFrom[i] = now;
                _gainUntil[i] = until;
            }

            return gains;
        }

        /// <summary>The job's part, as SumGains' filter decides it (no mates, no cohort), and until when it holds.</summary>
        private (int Category, long Until) GainCategory(int slot, int priority, bool service, TimeSpan cooldown, long now)
        {
            if (Stopping[slot])
            {
                return (AlwaysGain, long.MaxValue);
            }

            if (!Ripe[slot])
            {
                // Ripe once the clock reaches its start plus the cooldown (Fill's cutoff is now less the cooldown).
                var ripeAt = StartedTicks[slot] > long.MaxValue - cooldown.Ticks ? long.MaxValue : StartedTicks[slot] + cooldown.Ticks;
                return (NoGain, ripeAt);
            }

            if (Preemptible[slot] && Priority[slot] < priority)
            {
                return (AlwaysGain, long.MaxValue);
            }

            if (service && Preemptible[slot] && Priority[slot] == priority)
            {
                var band = BandAt(slot);
                return (band, _bandFrom[slot] <= now ? _bandUntil[slot] : now + 1);
            }

            return (NoGain, long.MaxValue);
        }

        private void AddPart(FollowedGains gains, int slot, int category, int sign)
        {
            if (category == NoGain)
            {
                return;
            }

            var into = category == AlwaysGain ? gains.Always : gains.ByBand;
            var offset = category == AlwaysGain ? 0 : category * gains.Nodes;
            var budget = 0;
            var given = Requests[slot];
            for (var k = 0; k < given.Types.Count; k++)
            {
                if (given.Types[k] == gains.Type)
                {
                    budget = Math.Max(0, given.Counts[k]);
                }
            }

            var row = Rows[slot];
            for (var r = 0; r < row.Nodes.Length; r++)
            {
                if (row.Nodes[r] is var n and >= 0)
                {
                    into[offset + n] += sign * Math.Max(budget, row.Devices[r]);
                }
            }
        }
    }

    /// <summary>Gains followed by the running table for one priority and device type (see <see cref="RunningTable.FollowGains"/>).</summary>
    internal sealed class FollowedGains(int priority, string type, int nodes, int bands, bool service)
    {
        public int Priority { get; } = priority;

        public string Type { get; } = type;

        public int Nodes { get; } = nodes;

        public int Bands { get; } = bands;

        public bool Service { get; } = service;

        public int[] Always { get; } = new int[nodes];

        /// <summary>Row k: devices jobs of the priority in band k give back, per node (not summed over worse bands).</summary>
        public int[] ByBand { get; } = new int[nodes * bands];
    }
}

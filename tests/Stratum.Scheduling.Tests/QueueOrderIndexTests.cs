using Stratum.Core.Jobs;

namespace Stratum.Scheduling.Tests;

/// <summary>
/// The planning pass merges its queue from groups it keeps between passes (<see cref="QueueOrderIndex"/>);
/// the merge must give exactly the order one sort of every job's key gives, whatever came, left, was
/// requeued, promoted, or when the clock went back.
/// </summary>
public sealed class QueueOrderIndexTests
{
    private static readonly string[] Projects = ["vision", "speech", "nlp"];

    [Theory]
    [InlineData(1, true, true)]
    [InlineData(2, true, false)]
    [InlineData(3, false, true)]
    [InlineData(4, false, false)]
    public void Merge_AfterRandomChanges_IsTheOrderOfOneSort(int seed, bool bands, bool fairShare)
    {
        var random = new Random(seed);
        var service = bands ? new AttainedService([600, 3_600, 14_400], promoteKnob: 2) : null;
        var index = new QueueOrderIndex();
        var queue = new List<Job>();
        var nextId = 1L;
        var now = Make.T0.AddHours(10);
        var promotions = 0;
        IReadOnlyList<Job> given = queue;
        for (var pass = 0; pass < 300; pass++)
        {
            // Arrivals, starts, requeues of a new object for the same job with one more attempt (or, one pass in
            // four, the very list given last time), and clock moves (mostly ahead, past promotions; sometimes back).
            var same = pass > 0 && random.Next(4) == 0;
            for (var k = same ? 0 : random.Next(4); k > 0; k--)
            {
                queue.Add(NewJob(random, nextId++, now));
            }

            for (var k = same ? 0 : random.Next(3); k > 0 && queue.Count > 0; k--)
            {
                queue.RemoveAt(random.Next(queue.Count));
            }

            if (!same && queue.Count > 0 && random.Next(3) == 0)
            {
                var at = random.Next(queue.Count);
                queue[at] = Ran(queue[at], random, now);
            }

            now = random.Next(10) == 0 ? now.AddMinutes(-random.Next(1, 120)) : now.AddMinutes(random.Next(0, 90));
            queue.Sort((a, b) => (a.SubmittedAt, a.Id).CompareTo((b.SubmittedAt, b.Id)));
            var penalties = fairShare ? Projects.ToDictionary(p => p, _ => random.NextDouble() * (random.Next(3) == 0 ? 3 : 0.01)) : null;

            // Promised in submit order, or in any order (sorted by the index unless it is the list it saw last).
            var inSubmitOrder = random.Next(2) == 0;
            given = same ? given : inSubmitOrder ? [.. queue] : [.. queue.OrderBy(_ => random.Next())];
            index.Follow(given, inSubmitOrder && given.SequenceEqual(queue), now, service,
                job => new JobClass(job.Spec.Project, job.Spec.Resources, job.Spec.Replicas, "", job.Spec.Priority));
            var penaltyBySlot = penalties is null ? null : index.Projects.Select(p => penalties[p]).ToArray();
            var count = index.Merge(penaltyBySlot, agingPerHour: 1, now.UtcTicks);

            var expected = queue.Select(job =>
            {
                int? band = null;
                if (service is not null)
                {
                    band = job.Attempts.Count > 0 ? service.WaitingBand(job, now, out _) : 0;
                    promotions += band == 0 && job.Attempts.Count > 0 && service.WaitingBand(job, DateTimeOffset.MinValue, out _) > 0 ? 1 : 0;
                }

                return (Key: PlanPass.OrderKey.For(job.Spec.Priority, band, penalties?[job.Spec.Project] ?? 0, 1, now.UtcTicks, job.SubmittedAt.UtcTicks, job.Id), Job: job);
            }).OrderBy(e => e.Key).ToList();
            var merged = Enumerable.Range(0, count).Select(i =>
            {
                index.At(i, out var job, out var facts, out var band);
                return (Job: job, Facts: facts, Band: band);
            }).ToList();
            Assert.Equal(expected.Count, count);
            Assert.Equal(expected.Select(e => e.Job.Id), merged.Select(m => m.Job.Id));
            Assert.True(expected.Select(e => e.Job).SequenceEqual(merged.Select(m => m.Job)), $"pass {pass}: not the very job objects queued");
            Assert.Equal(expected.Select(e => e.Key.Band), merged.Select(m => m.Band));
            Assert.Equal(expected.Select(e => (e.Job.Id, e.Job.Spec.MaxRuntime)), merged.Select(m => (m.Facts.Id, m.Facts.MaxRuntime)));
        }

        if (bands)
        {
            Assert.True(promotions > 20, $"only {promotions} promoted jobs seen: the replay does not exercise promotion");
        }
    }

    private static Job NewJob(Random random, long id, DateTimeOffset now)
    {
        // Some jobs share a submit second, so ids break ties; a few were submitted in the future of a clock that went back.
        var job = Make.Job(id, gpus: random.Next(1, 5), project: Projects[random.Next(Projects.Length)], priority: random.Next(2) * 10,
            submittedSecond: (int)(now - Make.T0).TotalSeconds - random.Next(0, 3) * 60);
        return random.Next(3) == 0 ? Ran(job, random, now) : job;
    }

    // The job as requeued after one more attempt of a random length (its band and promotion time move).
    private static Job Ran(Job job, Random random, DateTimeOffset now)
    {
        var ended = now.AddMinutes(-random.Next(0, 60));
        var started = ended.AddSeconds(-random.Next(60, 3_000));
        return job with
        {
            State = JobState.Preempted,
            Attempts = [.. job.Attempts, new JobAttempt { Number = job.Attempts.Count + 1, Placement = [], StartedAt = started, EndedAt = ended }],
        };
    }
}

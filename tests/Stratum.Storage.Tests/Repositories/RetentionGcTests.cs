using System.Globalization;
using Stratum.Storage.Repositories;

namespace Stratum.Storage.Tests.Repositories;

/// <summary>Retention then GC, end to end: the packs only dropped checkpoints used leave the backend; kept ones read back after a restart.</summary>
public sealed class RetentionGcTests
{
    [Fact]
    public async Task ApplyRetentionAsync_ThenGc_DeletesPacksOnlyDroppedCheckpointsUsed()
    {
        await using var f = await RepositoryFixture.CreateAsync();
        await f.Store.CreateRepositoryAsync("run-1", RepositoryKind.Checkpoints, "ada");
        var losses = new[] { 0.8, 0.3, 0.6, 0.5, 0.4 };
        var steps = new List<(string Commit, byte[] Content, string Pack)>();
        for (var step = 0; step < losses.Length; step++)
        {
            f.Clock.Advance(TimeSpan.FromMinutes(1));
            var content = TestStores.Content(50_000, 500 + step);
            var entry = await f.PutAsync("run-1", "main", "ckpt.bin", content);
            var metadata = new Dictionary<string, string> { ["loss"] = losses[step].ToString(CultureInfo.InvariantCulture) };
            var commit = (await f.Store.CommitAsync("run-1", "main", RepositoryFixture.Message($"step {step}", metadata))).Unwrap();
            steps.Add((commit.Id, content, f.Chunks.PackOf(entry.Content.Chunks[0].Id)!));
        }

        var packsBefore = PackFiles(f.Root);
        (await f.Store.ApplyRetentionAsync("run-1", new RetentionPolicy { KeepLast = 2, KeepBest = 1, Metric = "loss" })).Unwrap();
        f.Clock.Advance(TimeSpan.FromHours(2));
        var gc = await f.Chunks.CollectGarbageAsync(await f.Store.LiveChunksAsync(), TimeSpan.FromHours(1));

        // Kept: steps 4 and 3 (last two) and 1 (best loss); dropped: 0 and 2.
        var packsAfter = PackFiles(f.Root);
        Assert.True(gc.BytesFreed > 0);
        Assert.DoesNotContain(Path.GetFileName(steps[0].Pack), packsAfter);
        Assert.DoesNotContain(Path.GetFileName(steps[2].Pack), packsAfter);
        Assert.Equal(2, gc.PacksDeleted);
        Assert.Equal(packsBefore.Except([Path.GetFileName(steps[0].Pack), Path.GetFileName(steps[2].Pack)]).Order(), packsAfter.Order());
        var reopened = await f.ReopenAsync();
        foreach (var kept in new[] { 1, 3, 4 })
        {
            Assert.Equal(steps[kept].Content, await f.ReadAsync("run-1", steps[kept].Commit, "ckpt.bin", reopened));
        }

        await Assert.ThrowsAsync<ChunkMissingException>(() => f.ReadAsync("run-1", steps[0].Commit, "ckpt.bin", reopened));
        Assert.True((await reopened.VerifyAsync()).IsClean);
    }

    private static List<string> PackFiles(string root) =>
        [.. Directory.EnumerateFiles(Path.Combine(root, "packs"), "*.pack", SearchOption.AllDirectories).Select(p => Path.GetFileName(p))];
}

using System.Text.Json;
using Stratum.Storage.Backends;
using Stratum.Storage.Repositories;

namespace Stratum.Storage.Tiering;

/// <summary>
/// Per-repository tier policies and the lifecycle run that applies them. Policies are metadata blobs
/// (<c>tiering/policies/NAME.json</c>, in both tiers). A run moves each pack a repository uses by these rules:
/// cold-eligible when every repository referencing it allows cold (see <see cref="LifecyclePolicy.AllowsCold"/>);
/// eligible and hot → copy to cold, verify (length and SHA-256 read back), copy its index file, delete the hot
/// copy; not eligible and only cold → copy back to hot; otherwise, with <see cref="LifecycleOptions.MirrorToCold"/>,
/// a hot-only pack is copied to cold too. Every step leaves each pack whole in at least one tier, so a crash
/// at any point loses nothing; the next run carries on.
/// </summary>
public sealed class TierLifecycle
{
    private const string PolicyPrefix = "tiering/policies/";
    private readonly RepositoryStore _repositories;
    private readonly TieredBackend _tiers;
    private readonly LifecycleOptions _options;

    public TierLifecycle(RepositoryStore repositories, LifecycleOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(repositories);
        _tiers = repositories.Chunks.Backend as TieredBackend
            ?? throw new ArgumentException($"the store must be opened on a {nameof(TieredBackend)} (it is on {repositories.Chunks.Backend.Description})", nameof(repositories));
        _repositories = repositories;
        _options = options ?? new LifecycleOptions();
    }

    public TieredBackend Tiers => _tiers;

    /// <summary>Sets a repository's placement; an invalid policy or unknown repository changes nothing.</summary>
    public async Task<RepoResult<LifecyclePolicy>> SetPolicyAsync(string repository, LifecyclePolicy policy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var problems = policy.Problems();
        if (problems.Count > 0)
        {
            return RepoResult<LifecyclePolicy>.Fail(RepoError.InvalidArgument, $"invalid tier policy for '{repository}': " + string.Join("; ", problems));
        }

        var info = await _repositories.GetRepositoryAsync(repository, cancellationToken).ConfigureAwait(false);
        if (!info.IsSuccess)
        {
            return info.As<LifecyclePolicy>();
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("format", 1);
            json.WriteString("placement", policy.Placement.ToString().ToLowerInvariant());
            WriteSeconds(json, "coldAfterIdleSeconds", policy.ColdAfterIdle);
            WriteSeconds(json, "coldAfterAgeSeconds", policy.ColdAfterAge);
            json.WriteEndObject();
        }

        buffer.Position = 0;
        await _tiers.PutAsync(PolicyName(repository), buffer, cancellationToken).ConfigureAwait(false);
        return RepoResult<LifecyclePolicy>.Ok(policy);
    }

    /// <summary>A repository's placement; <see cref="LifecyclePolicy.AlwaysHot"/> when none was set.</summary>
    public async Task<LifecyclePolicy> GetPolicyAsync(string repository, CancellationToken cancellationToken = default)
    {
        var stream = await _tiers.OpenReadAsync(PolicyName(repository), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return LifecyclePolicy.AlwaysHot;
        }

        await using (stream.ConfigureAwait(false))
        {
            using var document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken).ConfigureAwait(false);
            var root = document.RootElement;
            return new LifecyclePolicy
            {
                Placement = Enum.Parse<TierPlacement>(root.GetProperty("placement").GetString()!, ignoreCase: true),
                ColdAfterIdle = ReadSeconds(root, "coldAfterIdleSeconds"),
                ColdAfterAge = ReadSeconds(root, "coldAfterAgeSeconds"),
            };
        }
    }

    /// <summary>
    /// Moves packs between tiers as the repositories' policies say at <paramref name="now"/>. Per-pack
    /// failures (a backend error, a copy that does not verify) are reported, not thrown: that pack stays
    /// where it was and the run goes on. Holds the store's maintenance lock, so it does not overlap GC.
    /// </summary>
    public Task<LifecycleReport> ApplyLifecycleAsync(DateTimeOffset now, IProgress<LifecycleProgress>? progress = null, CancellationToken cancellationToken = default) =>
        RunAsync(now, apply: true, progress, cancellationToken);

    /// <summary>
    /// What <see cref="ApplyLifecycleAsync"/> would do at <paramref name="now"/>, changing nothing: the same
    /// counts, with <see cref="LifecycleReport.BytesCopied"/> the bytes it would copy (packs not yet in the
    /// target tier; index files not counted) and <see cref="LifecycleReport.HotBytesFreed"/> what it would free.
    /// </summary>
    public Task<LifecycleReport> PlanLifecycleAsync(DateTimeOffset now, IProgress<LifecycleProgress>? progress = null, CancellationToken cancellationToken = default) =>
        RunAsync(now, apply: false, progress, cancellationToken);

    private async Task<LifecycleReport> RunAsync(DateTimeOffset now, bool apply, IProgress<LifecycleProgress>? progress, CancellationToken cancellationToken)
    {
        var chunks = _repositories.Chunks;
        await chunks.FlushAsync(cancellationToken).ConfigureAwait(false);
        await _tiers.FlushAccessTimesAsync(cancellationToken).ConfigureAwait(false);
        await chunks.MaintenanceLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var users = await PoliciesByPackAsync(cancellationToken).ConfigureAwait(false);
            var hotPacks = await NamesAsync(_tiers.Hot, "packs/", cancellationToken).ConfigureAwait(false);
            var coldPacks = await NamesAsync(_tiers.Cold, "packs/", cancellationToken).ConfigureAwait(false);
            var coldIndexes = await NamesAsync(_tiers.Cold, "index/", cancellationToken).ConfigureAwait(false);
            var packs = chunks.Packs.OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
            _tiers.ForgetAccessExcept(packs.Select(p => p.Name).ToHashSet(StringComparer.Ordinal));

            int moved = 0, mirrored = 0, rehydrated = 0, unreferenced = 0, done = 0;
            long copied = 0, freed = 0;
            var failures = new List<LifecycleFailure>();
            foreach (var pack in packs)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var inHot = hotPacks.Contains(pack.Name);
                var inCold = coldPacks.Contains(pack.Name);
                var step = "plan";
                try
                {
                    if (!users.TryGetValue(pack.Name, out var policies))
                    {
                        unreferenced++;
                        continue;
                    }

                    var lastAccess = _tiers.LastAccess(pack.Name) is { } read && read > pack.Created ? read : pack.Created;
                    var coldEligible = policies.All(p => p.AllowsCold(now, pack.Created, lastAccess));
                    var planned = Plan(coldEligible, inHot, inCold);
                    if (!apply)
                    {
                        moved += planned == "move" ? 1 : 0;
                        mirrored += planned == "mirror" ? 1 : 0;
                        rehydrated += planned == "rehydrate" ? 1 : 0;
                        copied += planned is "rehydrate" || (planned is "move" or "mirror" && !inCold) ? pack.Length : 0;
                        freed += planned == "move" ? pack.Length : 0;
                    }
                    else if (planned == "move")
                    {
                        step = "copy to cold";
                        copied += await EnsureColdAsync(pack, inCold, coldIndexes, cancellationToken).ConfigureAwait(false);
                        step = "delete hot copy";
                        await _tiers.Hot.DeleteAsync(pack.Name, cancellationToken).ConfigureAwait(false);
                        moved++;
                        freed += pack.Length;
                    }
                    else if (planned == "rehydrate")
                    {
                        step = "copy to hot";
                        var (ok, bytes) = await TierCopy.CopyVerifiedAsync(_tiers.Cold, _tiers.Hot, pack.Name, cancellationToken).ConfigureAwait(false);
                        if (ok)
                        {
                            rehydrated++;
                            copied += bytes;
                        }
                    }
                    else if (planned == "mirror")
                    {
                        step = "mirror to cold";
                        copied += await EnsureColdAsync(pack, inCold, coldIndexes, cancellationToken).ConfigureAwait(false);
                        mirrored++;
                    }
                }
                catch (IOException e)
                {
                    failures.Add(new LifecycleFailure(pack.Name, step, e.Message));
                }
                finally
                {
                    progress?.Report(new LifecycleProgress(++done, packs.Count, copied));
                }
            }

            return new LifecycleReport(packs.Count, moved, mirrored, rehydrated, unreferenced, copied, freed, failures);
        }
        finally
        {
            chunks.MaintenanceLock.Release();
        }
    }

    /// <summary>The step a run takes for a referenced pack (null: none), shared by the run and its dry run.</summary>
    private string? Plan(bool coldEligible, bool inHot, bool inCold) =>
        coldEligible && inHot ? "move"
        : !coldEligible && !inHot && inCold ? "rehydrate"
        : !coldEligible && inHot && !inCold && _options.MirrorToCold ? "mirror"
        : null;

    /// <summary>
    /// Makes the pack and then its index file present and verified in cold; returns the bytes copied. A
    /// copy already in cold (an earlier run that stopped before deleting the hot one) is verified, not trusted.
    /// The index file goes after the pack, so the cold tier keeps the engine's rule: an index names only a
    /// durable pack.
    /// </summary>
    private async Task<long> EnsureColdAsync(ChunkStore.PackInfo pack, bool inCold, HashSet<string> coldIndexes, CancellationToken cancellationToken)
    {
        long copied = 0;
        var hash = await TierCopy.HashAsync(_tiers.Hot, pack.Name, cancellationToken).ConfigureAwait(false)
            ?? throw new IOException($"pack {pack.Name} vanished from {_tiers.Hot.Description}");
        if (!inCold || await TierCopy.MatchesAsync(_tiers.Cold, pack.Name, hash, cancellationToken).ConfigureAwait(false) is not null)
        {
            var (_, bytes) = await TierCopy.CopyVerifiedAsync(_tiers.Hot, _tiers.Cold, pack.Name, cancellationToken).ConfigureAwait(false);
            copied += bytes;
        }

        if (!coldIndexes.Contains(pack.IndexName))
        {
            var (ok, bytes) = await TierCopy.CopyVerifiedAsync(_tiers.Hot, _tiers.Cold, pack.IndexName, cancellationToken).ConfigureAwait(false);
            if (!ok)
            {
                throw new IOException($"index file {pack.IndexName} is missing from {_tiers.Hot.Description}");
            }

            coldIndexes.Add(pack.IndexName);
            copied += bytes;
        }

        return copied;
    }

    /// <summary>Pack name → the policies of the repositories whose live files or staged entries use it.</summary>
    private async Task<Dictionary<string, List<LifecyclePolicy>>> PoliciesByPackAsync(CancellationToken cancellationToken)
    {
        var byPack = new Dictionary<string, List<LifecyclePolicy>>(StringComparer.Ordinal);
        foreach (var repository in await _repositories.ListRepositoriesAsync(cancellationToken).ConfigureAwait(false))
        {
            var policy = await GetPolicyAsync(repository.Name, cancellationToken).ConfigureAwait(false);
            var used = await _repositories.RepositoryChunksAsync(repository.Name, cancellationToken).ConfigureAwait(false);
            if (!used.IsSuccess)
            {
                continue; // deleted while we listed
            }

            foreach (var pack in used.Value!.Select(_repositories.Chunks.PackOf).OfType<string>().Distinct(StringComparer.Ordinal))
            {
                if (!byPack.TryGetValue(pack, out var policies))
                {
                    byPack[pack] = policies = [];
                }

                policies.Add(policy);
            }
        }

        return byPack;
    }

    private static async Task<HashSet<string>> NamesAsync(IBlobBackend backend, string prefix, CancellationToken cancellationToken)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var blob in backend.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            names.Add(blob.Name);
        }

        return names;
    }

    private static string PolicyName(string repository) => PolicyPrefix + repository + ".json";

    private static void WriteSeconds(Utf8JsonWriter json, string name, TimeSpan? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, (long)v.TotalSeconds);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static TimeSpan? ReadSeconds(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number
            ? TimeSpan.FromSeconds(value.GetInt64())
            : null;
}

using System.Diagnostics;
using System.Net;
using System.Text;
using Stratum.Core.Access;
using Stratum.Persistence;
using Stratum.Server.Store.S3;
using Stratum.Storage;
using Stratum.Storage.Backends;
using Stratum.Storage.Chunking;
using Stratum.Storage.Crypto;
using Stratum.Storage.Repositories;

namespace Stratum.Server.Tests.S3;

/// <summary>
/// The S3 endpoint over a real RepositoryStore (local directory backend, encrypted chunks) and a real
/// SQLite metadata store with persisted, sealed access keys: alice (creator of the repositories the
/// tests make), bob (a plain user), each with one key.
/// </summary>
public sealed class RepositoryS3Fixture : IAsyncLifetime
{
    public string Root { get; } = Directory.CreateTempSubdirectory("stratum-s3repo-").FullName;

    public SqliteMetadataStore Metadata { get; private set; } = null!;

    public ChunkStore Chunks { get; private set; } = null!;

    public RepositoryStore Repositories { get; private set; } = null!;

    public S3Hosting Host { get; private set; } = null!;

    public CreatedS3Key Alice { get; private set; } = null!;

    public CreatedS3Key Bob { get; private set; } = null!;

    public string Endpoint => Host.BaseAddress.ToString().TrimEnd('/');

    public async Task InitializeAsync()
    {
        var time = TimeProvider.System;
        Metadata = await SqliteMetadataStore.OpenAsync(Path.Combine(Root, "stratum.db"), time);
        foreach (var name in new[] { "alice", "bob" })
        {
            await Metadata.Access.UpsertUserAsync(new User { Name = name, CreatedAt = time.GetUtcNow() }, null);
        }

        var options = new ChunkStoreOptions
        {
            Chunking = new ChunkingOptions { MinSize = 64 * 1024, AverageSize = 256 * 1024, MaxSize = 1024 * 1024 },
            Workers = 2,
        };
        Chunks = await ChunkStore.OpenAsync(new LocalDirectoryBackend(Path.Combine(Root, "store")), new KeyRing(StoreKey.Generate()), options, time);
        Repositories = new RepositoryStore(Chunks, time);
        Host = await S3Hosting.StartAsync(Repositories, Metadata, Root, IPAddress.Loopback, 0, time);
        var box = S3SecretBox.ForDataDirectory(Root);
        Alice = await S3AccessKeys.CreateAsync(Metadata, box, "alice", time.GetUtcNow(), null, default);
        Bob = await S3AccessKeys.CreateAsync(Metadata, box, "bob", time.GetUtcNow(), null, default);
    }

    /// <summary>A fresh repository created by alice, with branch main.</summary>
    public async Task<string> NewRepositoryAsync(string stem)
    {
        var name = $"{stem}-{Guid.NewGuid():N}";
        (await Repositories.CreateRepositoryAsync(name, RepositoryKind.Dataset, "alice")).Unwrap();
        return name;
    }

    /// <summary>What the REST API and CLI do to make staged writes a version: a commit on the branch.</summary>
    public async Task<Commit> CommitAsync(string repository, string branch = "main", string message = "from S3") =>
        (await Repositories.CommitAsync(repository, branch, new CommitRequest { Message = message, Author = "alice" })).Unwrap();

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Chunks.DisposeAsync();
        await Metadata.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }
}

/// <summary>Debian's awscli, s3cmd and rclone, found on this machine or not (never a pyenv shim).</summary>
public static class S3Clients
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? Find(string name) =>
        new[] { "/usr/bin", "/usr/local/bin" }
            .Concat((Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':'))
            .Where(dir => dir.Length > 0 && !dir.Contains("shims", StringComparison.Ordinal))
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    public static async Task<(int ExitCode, string Output)> RunAsync(string tool, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string workingDirectory)
    {
        var path = Find(tool) ?? throw new InvalidOperationException($"'{tool}' is required here but not installed: apt-get install -y awscli s3cmd rclone");
        var info = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // A machine-wide AWS_CA_BUNDLE breaks rclone's plain-HTTP transport; these clients talk to loopback over HTTP.
        info.Environment.Remove("AWS_CA_BUNDLE");
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', info.ArgumentList)} did not finish in 120 s");
        }

        return (process.ExitCode, new StringBuilder().Append(await stdout).Append(await stderr).ToString());
    }
}

/// <summary>A [Fact] needing an external S3 client: skipped with the reason where it is missing, run (and failing) under CI=true.</summary>
public sealed class S3ClientFactAttribute : FactAttribute
{
    public S3ClientFactAttribute(string tool)
    {
        if (!S3Clients.InCi && S3Clients.Find(tool) is null)
        {
            Skip = $"'{tool}' is not installed (apt-get install -y awscli s3cmd rclone); under CI=true this test fails instead.";
        }
    }
}

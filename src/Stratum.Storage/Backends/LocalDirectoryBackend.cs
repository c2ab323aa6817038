using System.Runtime.CompilerServices;
using Stratum.Storage.Native;

namespace Stratum.Storage.Backends;

/// <summary>
/// Blobs as files under a root directory: name "a/b/c" is the file ROOT/a/b/c. A put writes a temporary
/// file under ROOT/.tmp (same filesystem, so the rename is atomic), fsyncs it, renames it over the
/// target and fsyncs the target's directory (and any directory it had to create). A process killed
/// mid-put leaves only a file under .tmp, which listing never shows and <see cref="DeleteStaleTemporaryFilesAsync"/> removes.
/// </summary>
public sealed class LocalDirectoryBackend : IBlobBackend, ISupportsTemporaryCleanup
{
    private const string TemporaryDirectoryName = ".tmp";
    private readonly string _root;
    private readonly string _temporary;

    public LocalDirectoryBackend(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        _root = Path.GetFullPath(root);
        _temporary = Path.Combine(_root, TemporaryDirectoryName);
        Directory.CreateDirectory(_temporary);
    }

    /// <summary>The root directory.</summary>
    public string Root => _root;

    public string Description => $"local:{_root}";

    public async Task PutAsync(string name, Stream content, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        ArgumentNullException.ThrowIfNull(content);
        var target = PathOf(name);
        var temporary = Path.Combine(_temporary, $"{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = 0,
                Options = FileOptions.Asynchronous,
                PreallocationSize = content.CanSeek ? content.Length - content.Position : 0,
            };
            await using (var file = new FileStream(temporary, options))
            {
                await content.CopyToAsync(file, 1 << 20, cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }

            var directory = Path.GetDirectoryName(target)!;
            var created = CreateDirectories(directory);
            File.Move(temporary, target, overwrite: true);
            LibC.FsyncDirectory(directory);
            foreach (var parent in created)
            {
                LibC.FsyncDirectory(parent);
            }
        }
        catch (IOException e)
        {
            TryDelete(temporary);
            throw new IOException($"writing blob '{name}' to {Description} failed: {e.Message}", e);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    public Task<Stream?> OpenReadAsync(string name, long offset = 0, long? length = null, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length is { } l)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(l, nameof(length));
        }

        FileStream file;
        try
        {
            file = new FileStream(PathOf(name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }

        var available = Math.Max(0, file.Length - offset);
        file.Position = Math.Min(offset, file.Length);
        return Task.FromResult<Stream?>(new BoundedReadStream(file, Math.Min(available, length ?? available)));
    }

    public Task<BlobInfo?> StatAsync(string name, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        var info = new FileInfo(PathOf(name));
        return Task.FromResult(info.Exists ? new BlobInfo(name, info.Length, info.LastWriteTimeUtc) : null);
    }

    public async IAsyncEnumerable<BlobInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Any(char.IsControl) || prefix.Contains('\\'))
        {
            throw new ArgumentException($"list prefix '{prefix}' contains a control character or a backslash", nameof(prefix));
        }

        // Only the directory that holds every possible match is walked: "packs/ab" walks ROOT/packs.
        var slash = prefix.LastIndexOf('/');
        var start = slash < 0 ? _root : Path.Combine(_root, prefix[..slash]);
        if (!Directory.Exists(start))
        {
            yield break;
        }

        var found = new List<BlobInfo>();
        foreach (var file in new DirectoryInfo(start).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            var name = Path.GetRelativePath(_root, file.FullName).Replace(Path.DirectorySeparatorChar, '/');
            if (name.StartsWith(TemporaryDirectoryName + "/", StringComparison.Ordinal) || !name.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            found.Add(new BlobInfo(name, file.Length, file.LastWriteTimeUtc));
        }

        found.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (var blob in found)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return blob;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        BlobNames.Validate(name);
        var path = PathOf(name);
        if (!File.Exists(path))
        {
            return Task.FromResult(false);
        }

        File.Delete(path);
        LibC.FsyncDirectory(Path.GetDirectoryName(path)!);
        return Task.FromResult(true);
    }

    public Task<int> DeleteStaleTemporaryFilesAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default)
    {
        var deleted = 0;
        foreach (var file in new DirectoryInfo(_temporary).EnumerateFiles())
        {
            if (file.LastWriteTimeUtc < olderThan.UtcDateTime)
            {
                TryDelete(file.FullName);
                deleted++;
            }
        }

        return Task.FromResult(deleted);
    }

    private string PathOf(string name) => Path.Combine(_root, name.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>Creates the missing directories of <paramref name="directory"/>; returns the parents whose entries changed.</summary>
    private List<string> CreateDirectories(string directory)
    {
        var changed = new List<string>();
        for (var d = directory; !Directory.Exists(d) && d.Length > _root.Length; d = Path.GetDirectoryName(d)!)
        {
            changed.Add(Path.GetDirectoryName(d)!);
        }

        if (changed.Count > 0)
        {
            Directory.CreateDirectory(directory);
        }

        return changed;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: a leftover temporary file is removed by the next cleanup.
        }
    }
}

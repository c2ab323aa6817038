using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace Stratum.Storage.Repositories;

/// <summary>
/// Canonical JSON for commits and manifest pages: fixed property order, metadata keys sorted ordinally,
/// times as UTC round-trip strings, no whitespace. The same object always gives the same bytes, so an
/// id (SHA-256 of the bytes) names it and a re-read can be re-hashed to detect damage.
/// </summary>
internal static class ManifestFormat
{
    public const int Version = 1;

    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static byte[] WritePage(IReadOnlyList<ManifestEntry> entries)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("format", Version);
            json.WriteStartArray("entries");
            foreach (var entry in entries)
            {
                WriteEntry(json, entry);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public static List<ManifestEntry> ReadPage(byte[] bytes)
    {
        using var document = JsonDocument.Parse(bytes);
        var root = document.RootElement;
        CheckVersion(root);
        return [.. root.GetProperty("entries").EnumerateArray().Select(ReadEntry)];
    }

    public static void WriteEntry(Utf8JsonWriter json, ManifestEntry entry)
    {
        json.WriteStartObject();
        json.WriteString("path", entry.Path);
        json.WriteNumber("size", entry.Content.Length);
        json.WriteString("md5", entry.Content.Md5);
        json.WriteString("sha256", entry.Content.Sha256);
        json.WriteString("contentType", entry.ContentType);
        WriteMap(json, "metadata", entry.Metadata);
        json.WriteStartArray("chunks");
        foreach (var chunk in entry.Content.Chunks)
        {
            json.WriteStartArray();
            json.WriteStringValue(chunk.Id.ToString());
            json.WriteNumberValue(chunk.Length);
            json.WriteEndArray();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static ManifestEntry ReadEntry(JsonElement e)
    {
        var chunks = e.GetProperty("chunks").EnumerateArray()
            .Select(c => new ChunkRef(ChunkId.Parse(c[0].GetString()!), c[1].GetInt32()))
            .ToList();
        var content = new StoredContent(e.GetProperty("size").GetInt64(), e.GetProperty("md5").GetString()!, e.GetProperty("sha256").GetString()!, chunks);
        return new ManifestEntry(e.GetProperty("path").GetString()!, content, e.GetProperty("contentType").GetString()!, ReadMap(e.GetProperty("metadata")));
    }

    /// <summary>The canonical bytes of a commit without its id; the id is their SHA-256.</summary>
    public static byte[] WriteCommit(Commit commit)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("format", Version);
            json.WriteString("repository", commit.Repository);
            json.WriteStartArray("parents");
            foreach (var parent in commit.Parents)
            {
                json.WriteStringValue(parent);
            }

            json.WriteEndArray();
            json.WriteString("message", commit.Message);
            json.WriteString("author", commit.Author);
            json.WriteString("time", commit.Time.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
            if (commit.Lineage is { } lineage)
            {
                json.WriteStartObject("lineage");
                json.WriteString("jobId", lineage.JobId);
                json.WriteStartArray("inputs");
                foreach (var input in lineage.Inputs)
                {
                    json.WriteStringValue(input);
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }
            else
            {
                json.WriteNull("lineage");
            }

            WriteMap(json, "metadata", commit.Metadata);
            json.WriteStartArray("pages");
            foreach (var page in commit.Pages)
            {
                json.WriteStartObject();
                json.WriteString("id", page.Id);
                json.WriteString("first", page.FirstPath);
                json.WriteString("last", page.LastPath);
                json.WriteNumber("count", page.Count);
                json.WriteNumber("bytes", page.Bytes);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public static Commit ReadCommit(string id, byte[] bytes)
    {
        using var document = JsonDocument.Parse(bytes);
        var root = document.RootElement;
        CheckVersion(root);
        Lineage? lineage = null;
        if (root.GetProperty("lineage") is { ValueKind: JsonValueKind.Object } l)
        {
            lineage = new Lineage(l.GetProperty("jobId").GetString(), [.. l.GetProperty("inputs").EnumerateArray().Select(i => i.GetString()!)]);
        }

        return new Commit(
            id,
            root.GetProperty("repository").GetString()!,
            [.. root.GetProperty("parents").EnumerateArray().Select(p => p.GetString()!)],
            root.GetProperty("message").GetString()!,
            root.GetProperty("author").GetString()!,
            DateTimeOffset.Parse(root.GetProperty("time").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
            lineage,
            ReadMap(root.GetProperty("metadata")),
            [.. root.GetProperty("pages").EnumerateArray().Select(p => new ManifestPage(
                p.GetProperty("id").GetString()!,
                p.GetProperty("first").GetString()!,
                p.GetProperty("last").GetString()!,
                p.GetProperty("count").GetInt32(),
                p.GetProperty("bytes").GetInt64()))]);
    }

    private static void WriteMap(Utf8JsonWriter json, string name, IReadOnlyDictionary<string, string> map)
    {
        json.WriteStartObject(name);
        foreach (var (key, value) in map.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            json.WriteString(key, value);
        }

        json.WriteEndObject();
    }

    private static Dictionary<string, string> ReadMap(JsonElement e) =>
        e.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);

    private static void CheckVersion(JsonElement root)
    {
        var version = root.GetProperty("format").GetInt32();
        if (version != Version)
        {
            throw new InvalidDataException($"repository metadata format {version} is not supported (this build reads {Version})");
        }
    }
}

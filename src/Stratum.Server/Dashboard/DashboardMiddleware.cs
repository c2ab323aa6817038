using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace Stratum.Server.Dashboard;

/// <summary>
/// Serves the dashboard: <c>/</c> and <c>/ui/...</c> return the single page, <c>/ui/assets/NAME</c> its
/// script and style sheet and the charting library's (uPlot, which the build installs with npm ci). The
/// files are embedded in this assembly, so the program needs no content directory and no build step
/// beyond dotnet build. They hold no data and are public; the page asks for a token and calls the REST
/// API with it. It runs before authentication for that reason, and answers only its own paths.
/// <para>
/// The page names each asset with its content hash (<c>/ui/assets/app.js?v=HASH</c>, written into
/// index.html at start-up), and an asset asked for with its current hash is cached for a year without
/// revalidation: a warm load fetches only index.html, and a new build's hashes make new URLs. Without
/// the hash (or with an old one) an asset is served as before: no-cache with an ETag.
/// </para>
/// </summary>
public sealed class DashboardMiddleware(RequestDelegate next)
{
    private const string Prefix = "Stratum.Server.Dashboard.";

    // The page loads only its own script and style; no inline code, no third-party origins.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private const string Immutable = "public, max-age=31536000, immutable";

    private static readonly FrozenDictionary<string, Asset> Assets = Load();

    public async Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            await next(context);
            return;
        }

        Asset? asset = null;
        if (path.StartsWith("/ui/assets/", StringComparison.Ordinal))
        {
            asset = Assets.GetValueOrDefault(path["/ui/assets/".Length..]);
            if (asset is null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
        }
        else if (path is "/" or "/ui" || path.StartsWith("/ui/", StringComparison.Ordinal))
        {
            asset = Assets["index.html"];
        }

        if (asset is null)
        {
            await next(context);
            return;
        }

        // Compressed once per asset and encoding, on first use: the library and the script shrink to about a third.
        var (encoding, body, etag) = Encoded(asset, context.Request.Headers.AcceptEncoding.ToString());
        var headers = context.Response.Headers;
        headers.ContentType = asset.ContentType;
        headers.ETag = etag;
        headers.Vary = "Accept-Encoding";
        if (encoding is not null)
        {
            headers.ContentEncoding = encoding;
        }

        headers.CacheControl = asset.Version is { } version && context.Request.Query["v"] == version ? Immutable : "no-cache";
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers["Referrer-Policy"] = "no-referrer";
        if (context.Request.Headers.IfNoneMatch.ToString() == etag)
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        context.Response.ContentLength = body.Length;
        if (HttpMethods.IsGet(context.Request.Method))
        {
            await context.Response.Body.WriteAsync(body, context.RequestAborted);
        }
    }

    /// <summary>
    /// Brotli or gzip when the client accepts it (and it is smaller), else the file as embedded. Each
    /// encoding is its own representation, so its ETag differs ("HASH-br").
    /// </summary>
    private static (string? Encoding, byte[] Body, string ETag) Encoded(Asset asset, string acceptEncoding)
    {
        var accepted = acceptEncoding.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(token => !token.Replace(" ", "", StringComparison.Ordinal).EndsWith(";q=0", StringComparison.Ordinal))
            .Select(token => token.Split(';')[0].Trim())
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var encoding in (string[])["br", "gzip"])
        {
            if (accepted.Contains(encoding) && asset.Compressed(encoding) is { } compressed)
            {
                return (encoding, compressed, asset.ETag[..^1] + "-" + encoding + "\"");
            }
        }

        return (null, asset.Content, asset.ETag);
    }

    /// <summary>The embedded files, by name.</summary>
    public static IReadOnlyCollection<string> Names => Assets.Keys;

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(DashboardMiddleware).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            var name = resource[Prefix.Length..];
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            var content = memory.ToArray();
            var type = Path.GetExtension(name) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            var hash = Convert.ToHexStringLower(SHA256.HashData(content))[..16];
            assets[name] = new Asset(content, type, "\"" + hash + "\"", hash);
        }

        foreach (var required in (string[])["index.html", "uPlot.iife.min.js", "uPlot.min.css"])
        {
            if (!assets.ContainsKey(required))
            {
                throw new InvalidOperationException($"The dashboard's {required} is not embedded in {assembly.GetName().Name}; check the EmbeddedResource items and the DashboardNpmCi target in Stratum.Server.csproj.");
            }
        }

        // The page links every other asset with its hash, so those URLs can be cached for good.
        var page = Encoding.UTF8.GetString(assets["index.html"].Content);
        foreach (var (name, asset) in assets.Where(a => a.Key != "index.html"))
        {
            page = page.Replace($"\"/ui/assets/{name}\"", $"\"/ui/assets/{name}?v={asset.Version}\"", StringComparison.Ordinal);
        }

        var index = Encoding.UTF8.GetBytes(page);
        assets["index.html"] = new Asset(index, assets["index.html"].ContentType, "\"" + Convert.ToHexStringLower(SHA256.HashData(index))[..16] + "\"", null);

        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>An embedded file; <paramref name="Version"/> is the hash that makes its URL cacheable (null for the page itself).</summary>
    private sealed record Asset(byte[] Content, string ContentType, string ETag, string? Version)
    {
        private readonly ConcurrentDictionary<string, byte[]?> _compressed = new(StringComparer.Ordinal);

        /// <summary>The content in <paramref name="encoding"/> (br or gzip); null when that is not smaller.</summary>
        public byte[]? Compressed(string encoding) => _compressed.GetOrAdd(encoding, static (name, content) =>
        {
            using var memory = new MemoryStream();
            using (Stream compressor = name == "br"
                ? new BrotliStream(memory, CompressionLevel.SmallestSize, leaveOpen: true)
                : new GZipStream(memory, CompressionLevel.SmallestSize, leaveOpen: true))
            {
                compressor.Write(content);
            }

            return memory.Length < content.Length ? memory.ToArray() : null;
        }, Content);
    }
}

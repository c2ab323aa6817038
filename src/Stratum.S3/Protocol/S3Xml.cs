using System.Globalization;
using System.Text;
using System.Xml;

namespace Stratum.S3.Protocol;

/// <summary>Writes S3 response documents: UTF-8, the 2006-03-01 namespace, no indentation.</summary>
internal sealed class S3Xml : IDisposable
{
    public const string Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

    private static readonly XmlWriterSettings Settings = new() { Encoding = new UTF8Encoding(false), Indent = false };

    private readonly MemoryStream _buffer = new();
    private readonly XmlWriter _writer;

    public S3Xml(string root, bool withNamespace = true)
    {
        _writer = XmlWriter.Create(_buffer, Settings);
        _writer.WriteStartDocument();
        if (withNamespace)
        {
            _writer.WriteStartElement(root, Namespace);
        }
        else
        {
            _writer.WriteStartElement(root);
        }
    }

    public S3Xml Element(string name, string? value)
    {
        _writer.WriteElementString(name, value ?? string.Empty);
        return this;
    }

    public S3Xml Element(string name, long value) => Element(name, value.ToString(CultureInfo.InvariantCulture));

    public S3Xml Element(string name, bool value) => Element(name, value ? "true" : "false");

    public S3Xml Element(string name, DateTimeOffset value) => Element(name, Timestamp(value));

    public S3Xml Open(string name)
    {
        _writer.WriteStartElement(name);
        return this;
    }

    public S3Xml Close()
    {
        _writer.WriteEndElement();
        return this;
    }

    public byte[] ToArray()
    {
        _writer.WriteEndElement();
        _writer.WriteEndDocument();
        _writer.Flush();
        return _buffer.ToArray();
    }

    /// <summary>ISO 8601 with milliseconds and Z, as S3 writes timestamps in XML.</summary>
    public static string Timestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public void Dispose()
    {
        _writer.Dispose();
        _buffer.Dispose();
    }
}

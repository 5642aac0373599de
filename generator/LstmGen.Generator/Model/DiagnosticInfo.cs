using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace LstmGen.Generator.Model;

/// <summary>A location as plain data (a Roslyn <see cref="Location"/> holds a syntax tree).</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

    public static LocationInfo? From(Location? location) =>
        location is null || location.SourceTree is null
            ? null
            : new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);
}

/// <summary>A diagnostic as plain, equatable data, reported by its own pipeline output.</summary>
internal sealed record DiagnosticInfo(string Id, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(DiagnosticDescriptors.ById(Id), Location?.ToLocation(), Arguments.Count == 0 ? null : System.Linq.Enumerable.ToArray<object>(Arguments));
}

/// <summary>The parser's result for one attributed class: a model when it is valid, and the diagnostics found.</summary>
/// <summary>
/// What the parser found. <c>WeightsLocation</c>, the <c>Weights</c> argument's place in the file, travels beside the model,
/// not in it: an edit that only moves the attribute then leaves the model Unchanged, and the weights file is not read again.
/// </summary>
internal sealed record ParseResult(LstmModelSpec? Model, EquatableArray<DiagnosticInfo> Diagnostics, LocationInfo? WeightsLocation = null);

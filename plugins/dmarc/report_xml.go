package dmarc

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"time"
)

// feedback is an aggregate report (RFC 7489 Appendix C). The schema's
// feedback element has a version (xs:decimal) and no namespace on the
// wire, as every reporter sends it.
type feedback struct {
	XMLName  xml.Name        `xml:"feedback"`
	Version  string          `xml:"version"`
	Metadata reportMetadata  `xml:"report_metadata"`
	Policy   policyPublished `xml:"policy_published"`
	Records  []reportRecord  `xml:"record"`
}

type reportMetadata struct {
	OrgName          string `xml:"org_name"`
	Email            string `xml:"email"`
	ExtraContactInfo string `xml:"extra_contact_info,omitempty"`
	ReportID         string `xml:"report_id"`
	Begin            int64  `xml:"date_range>begin"`
	End              int64  `xml:"date_range>end"`
}

type reportRecord struct {
	Row struct {
		SourceIP  string `xml:"source_ip"`
		Count     int    `xml:"count"`
		Evaluated struct {
			Disposition Policy           `xml:"disposition"`
			DKIM        string           `xml:"dkim"`
			SPF         string           `xml:"spf"`
			Reasons     []overrideReason `xml:"reason"`
		} `xml:"policy_evaluated"`
	} `xml:"row"`
	Identifiers struct {
		EnvelopeTo   string `xml:"envelope_to,omitempty"`
		EnvelopeFrom string `xml:"envelope_from"`
		HeaderFrom   string `xml:"header_from"`
	} `xml:"identifiers"`
	AuthResults struct {
		DKIM []dkimResult `xml:"dkim"`
		SPF  []spfResult  `xml:"spf"`
	} `xml:"auth_results"`
}

// dayReport is one policy domain's report of one UTC day.
type dayReport struct {
	domain     string
	begin, end time.Time
	rua        []string
	feedback   feedback
}

// domainRows is one policy domain's rows of a day as they are read:
// identical rows (same client, disposition, results, reasons and
// identifiers) are one record with their count, in the order first seen,
// so that a day of a busy MX is held as its distinct rows, not its lines.
// The policy and destinations are those of the last row, the record as
// the domain last published it that day.
type domainRows struct {
	policy  policyPublished
	rua     []string
	index   map[string]int
	records []reportRecord
}

// add counts row.
func (d *domainRows) add(row *historyRow) {
	d.policy, d.rua = row.Policy, row.RUA
	k := *row
	k.Policy, k.RUA = policyPublished{}, nil
	b, _ := json.Marshal(k)
	key := string(b)
	if i, ok := d.index[key]; ok {
		d.records[i].Row.Count++
		return
	}
	var rec reportRecord
	rec.Row.SourceIP, rec.Row.Count = row.SourceIP, 1
	ev := &rec.Row.Evaluated
	ev.Disposition, ev.DKIM, ev.SPF, ev.Reasons = row.Disposition, row.DKIM, row.SPF, row.Reasons
	id := &rec.Identifiers
	id.EnvelopeTo, id.EnvelopeFrom, id.HeaderFrom = row.EnvelopeTo, row.EnvelopeFrom, row.HeaderFrom
	rec.AuthResults.DKIM, rec.AuthResults.SPF = row.DKIMResults, row.SPFResults
	if d.index == nil {
		d.index = map[string]int{}
	}
	d.index[key] = len(d.records)
	d.records = append(d.records, rec)
}

// report is the domain's report of the UTC day that starts at day.
func (d *domainRows) report(rc ReportsConfig, domain string, day time.Time) *dayReport {
	rep := &dayReport{domain: domain, begin: day, end: day.Add(24*time.Hour - time.Second), rua: d.rua}
	rep.feedback = feedback{
		Version: "1.0",
		Metadata: reportMetadata{
			OrgName: rc.OrgName, Email: rc.Email, ExtraContactInfo: rc.ExtraContactInfo,
			ReportID: reportID(rc.idKey, rc.Submitter, domain, day),
			Begin:    rep.begin.Unix(), End: rep.end.Unix(),
		},
		Policy:  d.policy,
		Records: d.records,
	}
	return rep
}

// aggregate is the report of a day's rows of one policy domain.
func aggregate(rc ReportsConfig, domain string, day time.Time, rows []*historyRow) *dayReport {
	var d domainRows
	for _, row := range rows {
		d.add(row)
	}
	return d.report(rc, domain, day)
}

// xmlBytes is the report as an XML document, escaped by encoding/xml.
func (rep *dayReport) xmlBytes() ([]byte, error) {
	b, err := xml.MarshalIndent(rep.feedback, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// gzipped is b compressed, as RFC 7489 §7.2.1.1 has the report sent.
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

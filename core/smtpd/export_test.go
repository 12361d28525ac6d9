package smtpd

// StoredText is the message text enqueue stores below its trace header
// for data received: with the empty line put where the header fields end
// without one. For the external tests (package smtpd_test), which hold it
// against the pipeline's parser.
func StoredText(data []byte) []byte {
	hdr, noBlank := headerSection(data)
	return storedText(nil, data, hdr, noBlank, nil)
}
